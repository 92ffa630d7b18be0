"""Token classification (named entities, semantic roles), measured beside a most-frequent-tag baseline.

    python -m benchmarks.tagging [--shared-data ../shared/data] [--work DIR] [--seeds 3]
        [--parts conll_minilm,conll_scratch,resume_zh,srl_minilm,export,report]

- conll_minilm / conll_scratch: CoNLL-2003 English, `configs/tagger_conll2003_minilm.yaml` (from
  all-MiniLM-L6-v2) and `configs/tagger_conll2003.yaml` (random init); entity F1 on valid.txt (the run's
  test: its validation is carved from train.txt).
- resume_zh: Chinese resume NER, `configs/tagger_resume_zh.yaml` (random init), entity F1 on dev.
- srl_minilm: Universal PropBank EWT, `configs/tagger_srl_minilm.yaml`, argument F1 (head words, V
  excluded) on the validation carved by sentence from the shared file.
- each beside the baseline of `tfmodels/tasks/tagging_baseline.py`, scored by the same code, on the same
  sentences; the median of `--seeds` seeds, each seed's F1, the training time.
- report: the section written again from the work folder's results.json.
- decoding: the median runs' entity F1 with the best valid sequence and with each word's argmax.
- export: sentences/s of the exported CoNLL MiniLM tagger (`serving_default`, raw sentences in, tags
  out, constrained decoding inside) at batch 1 and 32.

A finished run in the work folder is not trained again. Prints the numbers and writes the "tagging"
section of docs/benchmarks.md, naming the CPU (speeds compare only inside one run of this script).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import trained_run

SETS = {  # part: (config, label, split scored, target)
    "conll_minilm": ("tagger_conll2003_minilm.yaml", "CoNLL-2003 valid.txt, from all-MiniLM-L6-v2", "test", 0.88),
    "conll_scratch": ("tagger_conll2003.yaml", "CoNLL-2003 valid.txt, random init", "test", 0.80),
    "resume_zh": ("tagger_resume_zh.yaml", "Chinese resume NER dev, random init", "test", 0.92),
    "srl_minilm": ("tagger_srl_minilm.yaml", "Universal PropBank EWT (validation carve), from all-MiniLM-L6-v2",
                   "validation", 0.70),
}
EXPORT_SENTENCES = 320


def seeded(part: str, work: Path, seeds: int) -> dict:
    config_file, _, split, _ = SETS[part]
    runs = []
    for seed in range(seeds):
        run = trained_run(config_file, [f"runtime.seed={seed}"], work / f"{part}_seed{seed}")
        metrics = json.loads((run / "metrics.json").read_text())
        scores = metrics[split]
        runs.append({"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
                     "per_type": {k: v["f1"] for k, v in scores["per_type"].items()},
                     "cut_words": scores.get("cut_words", 0), "epochs": metrics["epochs_trained"],
                     "fit_seconds": metrics["fit_seconds"], "wall_seconds": metrics["wall_seconds"]})
        print(f"{part} seed {seed}: F1 {scores['f1']:.4f} in {metrics['wall_seconds']:.0f} s", flush=True)
    middle = sorted(runs, key=lambda r: r["f1"])[len(runs) // 2]
    return {"runs": runs, "f1": statistics.median(r["f1"] for r in runs), "median_run": middle,
            "baseline": baseline(config_file, split), "run_dir": str(work / f"{part}_seed{runs.index(middle)}")}


def baseline(config_file: str, split: str) -> dict:
    """The most-frequent-tag baseline on the same split the run is scored on (the task's own loading)."""
    from tfmodels.config import load_config
    from tfmodels.tasks import task_for
    from tfmodels.tasks.tagging_baseline import baseline_tags
    from tfmodels.tasks.tagging_metrics import entity_scores, role_scores

    splits = task_for(load_config(CONFIGS / config_file)).load()
    train, tagged = splits["train"], splits[split]
    scores = (role_scores if tagged.srl else entity_scores)(tagged.tags, baseline_tags(train, tagged))
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}


def export_speed(run_dir: Path, work: Path, shared: Path) -> dict:
    """Sentences/s of the exported tagger at batch 1 and 32 (valid.txt's sentences, raw text in)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfmodels.data.tagging import ReadOptions, load_tagged
    from tfmodels.verbs.export import export_run

    target = work / "export_conll_minilm"
    if not (target / "saved_model.pb").is_file():
        export_run(run_dir, out=target)
    loaded = tf.saved_model.load(str(target))
    fn = loaded.signatures["serving_default"]
    tagged = load_tagged(f"conll:{shared}/text_tag/conll2003/valid.txt", "test", ReadOptions())
    sentences = [" ".join(w) for w in tagged.words[:EXPORT_SENTENCES]]
    result = {}
    for batch in (1, 32):
        fn(text=tf.constant(sentences[:batch]))  # warm: the first call traces
        started = time.perf_counter()
        for first in range(0, len(sentences), batch):
            fn(text=tf.constant(sentences[first:first + batch]))
        result[str(batch)] = len(sentences) / (time.perf_counter() - started)
        print(f"export batch {batch}: {result[str(batch)]:.1f} sentences/s", flush=True)
    return result


def decoding_gain(run_dir: Path) -> dict:
    """Entity F1 of a run's test split with the best valid sequence and with each word's argmax, and how many
    argmax sequences are invalid (the same logits, decoded twice)."""
    from tfmodels.files import read_json
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.saving import load_keras_model
    from tfmodels.tasks import task_for
    from tfmodels.tasks.tagging_metrics import entity_scores
    from tfmodels.tasks.token_classification import predict_tags

    paths = RunPaths(run_dir)
    task, info = task_for(read_run_config(paths)), read_json(paths.data_info)
    packed, tagged, _, _ = task.evaluation_data(paths, info, None, "test")
    model, labels = load_keras_model(paths.model), info["class_names"]
    allowed = task.decoding_table(labels)
    best = predict_tags(model, packed, labels, allowed)
    free = predict_tags(model, packed, labels, None)

    def invalid(tags):
        path = [len(labels)] + [labels.index(t) for t in tags] + [len(labels)]
        return any(not allowed[a, b] for a, b in zip(path[:-1], path[1:]))

    return {"constrained": entity_scores(tagged.tags, best)["f1"], "argmax": entity_scores(tagged.tags, free)["f1"],
            "invalid_argmax": sum(map(invalid, free)), "invalid_constrained": sum(map(invalid, best)),
            "sentences": len(free)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--parts", default="conll_minilm,srl_minilm,resume_zh,conll_scratch,export")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    shared = Path(args.shared_data or default_shared_data())
    os.environ["TFMODELS_SHARED_DATA"] = str(shared)
    work = Path(args.work or tempfile.mkdtemp(prefix="tagging-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for part in args.parts.split(","):
        if part == "report":  # render the saved numbers again (e.g. after merging parts run elsewhere)
            pass
        elif part == "decoding":
            results["decoding"] = {key: decoding_gain(Path(results[key]["run_dir"]))
                                   for key in ("conll_minilm", "conll_scratch", "resume_zh") if key in results}
        elif part == "export":
            if "conll_minilm" not in results:
                raise SystemExit("export needs the conll_minilm part first")
            results["export"] = export_speed(Path(results["conll_minilm"]["run_dir"]), work, shared)
        else:
            results[part] = seeded(part, work, args.seeds)
        saved.write_text(json.dumps(results, indent=2))
        write_section("tagging", report(results))
        print(f"[{part} done]", flush=True)
    print(report(results))


def report(results: dict) -> str:
    lines = ["## Token classification: named entities and semantic roles", "",
             "`python -m benchmarks.tagging`. Entity F1 as seqeval's default mode (conlleval) scores it; semantic "
             "roles by argument (head word, role; `V` excluded). The baseline (`tfmodels/tasks/tagging_baseline.py`) "
             "tags each word with its most frequent training tag (roles: the most frequent role of its dependency "
             "relation and whether it depends on the predicate), scored by the same code on the same sentences.", "",
             "| set | target | F1 (median) | per seed | baseline F1 | epochs | training s (wall, median run) |",
             "|---|---|---|---|---|---|---|"]
    for part, (_, label, _, target) in SETS.items():
        if part not in results:
            continue
        r = results[part]
        per_seed = ", ".join(f"{x['f1']:.4f}" for x in r["runs"])
        m = r["median_run"]
        lines.append(f"| {label} | {target:.2f} | {r['f1']:.4f} | {per_seed} | {r['baseline']['f1']:.4f} | "
                     f"{m['epochs']} | {m['wall_seconds']:.0f} |")
    for part in SETS:
        if part in results:
            m = results[part]["median_run"]
            types = ", ".join(f"{k} {v:.3f}" for k, v in sorted(m["per_type"].items(), key=lambda kv: -kv[1])[:12])
            cut = f"; {m['cut_words']} word(s) beyond the sequence length (scored as O)" if m["cut_words"] else ""
            lines += ["", f"{SETS[part][1]}, median run: precision {m['precision']:.4f}, recall {m['recall']:.4f}; "
                          f"F1 by type: {types}{cut}."]
    if "decoding" in results:
        lines += ["", "Decoding the median run's logits twice: the best valid sequence (tensorflow_text's constrained "
                      "Viterbi over the BIOES transitions) against each word's argmax.", "",
                  "| set | F1, best valid sequence | F1, argmax | invalid sequences: argmax | constrained |",
                  "|---|---|---|---|---|"]
        for key, r in results["decoding"].items():
            lines.append(f"| {SETS[key][1]} | {r['constrained']:.4f} | {r['argmax']:.4f} | "
                         f"{r['invalid_argmax']} of {r['sentences']} | {r['invalid_constrained']} |")
    seeds = {part: len(results[part]["runs"]) for part in SETS if part in results}
    if any(n < 3 for n in seeds.values()):
        lines += ["", "Seeds: " + ", ".join(f"{SETS[p][1]}: {n}" for p, n in seeds.items()) + " (the others were "
                  "stopped for time; the median of two is their mean)."]
    lines += ["", "Training times: the parts ran at once, three trainings sharing the 2 cores, so each time is an "
                  "upper bound (CoNLL from MiniLM alone: about 2 minutes an epoch, measured before)."]
    if "export" in results:
        lines += ["", "Exported CoNLL MiniLM tagger (`serving_default`: raw sentences in, words and tags out, "
                      "constrained decoding in the graph), valid.txt sentences: "
                      + ", ".join(f"batch {b}: {v:.1f} sentences/s" for b, v in results["export"].items()) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
