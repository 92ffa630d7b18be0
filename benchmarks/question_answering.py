"""Extractive question answering (SQuAD v1.1, DRCD), measured beside the sliding-window baseline.

    python -m benchmarks.question_answering [--shared-data ../shared/data] [--work DIR] [--seeds 3]
        [--parts squad_minilm,squad_scratch,drcd_scratch,drcd_minilm,export,report]

- squad_minilm / squad_scratch: the shared 38 SQuAD articles, 4 of them (a seeded carve by article) the
  validation set; `configs/qa_squad_minilm.yaml` (from all-MiniLM-L6-v2) and `configs/qa_squad.yaml`
  (random init). Exact match and F1 as SQuAD v1.1's evaluate-v1.1.py computes them.
- drcd_scratch / drcd_minilm: DRCD's dev file, 10% of its articles carved for validation;
  `configs/qa_drcd.yaml` (random init) and `configs/qa_drcd_minilm.yaml`; CMRC 2018's character F1.
- each beside the sliding-window baseline (`tfmodels/tasks/qa_baseline.py`), scored by the same code on the
  same questions; the median of `--seeds` seeds, each seed's F1, the training time.
- export: questions/s of the exported SQuAD MiniLM model (`serving_default`: question and context in,
  answer out; windows and decoding in the graph) at batch 1 and 32.
- report: the section written again from the work folder's results.json.

A finished run in the work folder is not trained again. Prints the numbers and writes the "question
answering" section of docs/benchmarks.md, naming the CPU (speeds compare only inside one run of this script).
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

SETS = {  # part: (config, label, target F1 or None)
    "squad_minilm": ("qa_squad_minilm.yaml", "SQuAD v1.1 (4 of the 38 articles), from all-MiniLM-L6-v2", 0.60),
    "squad_scratch": ("qa_squad.yaml", "SQuAD v1.1 (4 of the 38 articles), random init", None),
    "drcd_scratch": ("qa_drcd.yaml", "DRCD dev (10% of the articles), random init", None),
    "drcd_minilm": ("qa_drcd_minilm.yaml", "DRCD dev (10% of the articles), from all-MiniLM-L6-v2", None),
}
EXPORT_QUESTIONS = 256
FIRST_SEED = 1234  # runtime.seed's default


def seeded(part: str, work: Path, seeds: int) -> dict:
    config_file = SETS[part][0]
    runs = []
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):  # the first: the config's own seed (a plain `train` of it)
        run = trained_run(config_file, [f"runtime.seed={seed}"], work / f"{part}_seed{seed}")
        metrics = json.loads((run / "metrics.json").read_text())
        scores = metrics["validation"]
        runs.append({"f1": scores["f1"], "exact_match": scores["exact_match"], "epochs": metrics["epochs_trained"],
                     "fit_seconds": metrics["fit_seconds"], "wall_seconds": metrics["wall_seconds"]})
        runs[-1]["seed"] = seed
        print(f"{part} seed {seed}: F1 {scores['f1']:.4f}, EM {scores['exact_match']:.4f} in "
              f"{metrics['wall_seconds']:.0f} s", flush=True)
    middle = sorted(runs, key=lambda r: r["f1"])[len(runs) // 2]
    run_dir = work / f"{part}_seed{middle['seed']}"
    info = json.loads((run_dir / "data.json").read_text())
    return {"runs": runs, "f1": statistics.median(r["f1"] for r in runs),
            "exact_match": statistics.median(r["exact_match"] for r in runs), "median_run": middle,
            "baseline": baseline(config_file), "windows": info["window_counts"], "examples": info["examples"],
            "unknown_share": unknown_share(run_dir), "run_dir": str(run_dir)}


def baseline(config_file: str) -> dict:
    """The sliding-window baseline on the validation set the runs are scored on (the task's own loading)."""
    from tfmodels.config import load_config
    from tfmodels.tasks import task_for
    from tfmodels.tasks.qa_baseline import sliding_window_answers
    from tfmodels.tasks.qa_metrics import answer_scores, text_language

    splits = task_for(load_config(CONFIGS / config_file)).load()
    validation = splits["validation"]
    scores = answer_scores(validation.gold_texts(), sliding_window_answers(validation),
                           text_language(splits["train"].contexts))
    return {"f1": scores["f1"], "exact_match": scores["exact_match"]}


def unknown_share(run_dir: Path) -> float:
    """The share of the validation windows' context sub-words that the run's vocabulary reads as [UNK]."""
    import numpy as np

    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.tasks import task_for

    paths = RunPaths(run_dir)
    task = task_for(read_run_config(paths))
    packed = task.evaluation_data(paths, json.loads(paths.data_info.read_text()), None, "validation")[0]
    vocabulary = task.run_preprocessor(paths).vocabulary
    unk = vocabulary.index("[UNK]")
    positions = np.arange(packed.token_ids.shape[1])[None, :]
    context = (positions >= packed.context_position[:, None]) & (
        positions < (packed.context_position + packed.context_length)[:, None])
    return float(np.sum((packed.token_ids == unk) & context) / max(1, np.sum(context)))


def export_speed(run_dir: Path, work: Path) -> dict:
    """Questions/s of the exported model at batch 1 and 32 (validation questions with their contexts)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.tasks import task_for
    from tfmodels.verbs.export import export_run

    target = work / "export_squad_minilm"
    if not (target / "saved_model.pb").is_file():
        export_run(run_dir, out=target)
    loaded = tf.saved_model.load(str(target))
    fn = loaded.signatures["serving_default"]
    validation = task_for(read_run_config(RunPaths(run_dir))).load()["validation"]
    questions, contexts = validation.questions[:EXPORT_QUESTIONS], validation.contexts[:EXPORT_QUESTIONS]
    result = {}
    for batch in (1, 32):
        fn(question=tf.constant(questions[:batch]), context=tf.constant(contexts[:batch]))  # warm: the first call traces
        started = time.perf_counter()
        for first in range(0, len(questions), batch):
            fn(question=tf.constant(questions[first:first + batch]), context=tf.constant(contexts[first:first + batch]))
        result[str(batch)] = len(questions) / (time.perf_counter() - started)
        print(f"export batch {batch}: {result[str(batch)]:.1f} questions/s", flush=True)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--parts", default="squad_minilm,squad_scratch,drcd_scratch,drcd_minilm,export")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    shared = Path(args.shared_data or default_shared_data())
    os.environ["TFMODELS_SHARED_DATA"] = str(shared)
    work = Path(args.work or tempfile.mkdtemp(prefix="qa-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for part in args.parts.split(","):
        if part == "report":
            pass
        elif part == "export":
            if "squad_minilm" not in results:
                raise SystemExit("export needs the squad_minilm part first")
            results["export"] = export_speed(Path(results["squad_minilm"]["run_dir"]), work)
        else:
            results[part] = seeded(part, work, args.seeds)
        saved.write_text(json.dumps(results, indent=2))
        write_section("question answering", report(results))
        print(f"[{part} done]", flush=True)
    print(report(results))


def report(results: dict) -> str:
    lines = ["## Question answering: SQuAD v1.1 and DRCD", "",
             "`python -m benchmarks.question_answering`. Exact match and F1 on the validation articles: SQuAD v1.1's "
             "evaluate-v1.1.py for SQuAD, CMRC 2018's character F1 for DRCD (`tfmodels/tasks/qa_metrics.py`). The "
             "baseline is the SQuAD paper's sliding window (`tfmodels/tasks/qa_baseline.py`), scored by the same code "
             "on the same questions.", "",
             "| set | target F1 | F1 (median) | EM (median) | F1 per seed | baseline F1 / EM | epochs | "
             "training s (wall, median run) | windows train / validation | context [UNK] share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for part, (_, label, target) in SETS.items():
        if part not in results:
            continue
        r, m = results[part], results[part]["median_run"]
        per_seed = ", ".join(f"{x['f1']:.4f}" for x in r["runs"])
        lines.append(f"| {label} | {f'{target:.2f}' if target else '-'} | {r['f1']:.4f} | {r['exact_match']:.4f} | "
                     f"{per_seed} | {r['baseline']['f1']:.4f} / {r['baseline']['exact_match']:.4f} | {m['epochs']} | "
                     f"{m['wall_seconds']:.0f} | {r['windows']['train']} / {r['windows']['validation']} | "
                     f"{r['unknown_share']:.3f} |")
    seeds = {part: len(results[part]["runs"]) for part in SETS if part in results}
    if any(n < 3 for n in seeds.values()):
        lines += ["", "Seeds: " + ", ".join(f"{SETS[p][1]}: {n}" for p, n in seeds.items()) + " (fewer than 3: "
                  "stopped for time)."]
    missing = [label for part, (_, label, _) in SETS.items() if part not in results]
    if missing:
        lines += ["", "Not measured in this run (stopped for time): " + "; ".join(missing) + "."]
    lines += ["", "Training times: two or three trainings (and tests) shared the 2 cores, so each is an upper bound."]
    if "export" in results:
        lines += ["", "Exported SQuAD MiniLM model (`serving_default`: question and context in, answer, score and "
                      "offsets out; words, windows and decoding in the graph), validation questions: "
                      + ", ".join(f"batch {b}: {v:.1f} questions/s" for b, v in results["export"].items()) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
