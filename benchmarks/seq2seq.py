"""Sequence to sequence (Multi30k German -> English, AESLC email -> subject), measured beside baselines.

    python -m benchmarks.seq2seq [--shared-data ../shared/data] [--work DIR] [--seeds 3]
        [--parts multi30k,aeslc,decoding,training,report]

- multi30k: `configs/s2s_multi30k.yaml` (random init) on the shared training pairs, scored on the 1,014
  validation pairs: sacreBLEU with beam 4 and greedy, beside the copy-the-source baseline (the German
  sentence given as the English one), the median of `--seeds` seeds and the training time.
- aeslc: `configs/s2s_aeslc.yaml` on the training emails, ROUGE-1/2/L (rouge-score, stemmed) on the 1,960 dev
  emails against their subject lines, beside the lead baseline (the body's first N words, N chosen on
  2,000 training emails).
- decoding: generated tokens/s of the Multi30k model at batch 1 and 32: greedy cached, greedy uncached
  (the decoder over the whole prefix at every step), beam 4 cached.
- training: tokens/s (source + target) of the Multi30k config's training step on its real batches, and the
  model FLOPs it does a second against the machine's measured matrix-product ceiling (bfloat16 and float32).
- report: the section written again from the work folder's results.json.

A finished run in the work folder is not trained again. Prints the numbers and writes the "sequence to
sequence" section of docs/benchmarks.md, naming the CPU (speeds compare only inside one run of this script).
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
from benchmarks.report import machine, now_stamp, write_section
from benchmarks.runner import trained_run

SETS = {  # part: (config, label, target or None)
    "multi30k": ("s2s_multi30k.yaml", "Multi30k de -> en, validation (1,014 pairs)", 30.0),
    "aeslc": ("s2s_aeslc.yaml", "AESLC email -> subject, dev (1,960 emails)", None),
}
FIRST_SEED = 1234  # runtime.seed's default
DECODE_SOURCES = {1: 32, 32: 256}  # batch size: validation sources decoded


def seeded(part: str, work: Path, seeds: int) -> dict:
    config_file = SETS[part][0]
    runs = []
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        run = trained_run(config_file, [f"runtime.seed={seed}"], work / f"{part}_seed{seed}")
        metrics = json.loads((run / "metrics.json").read_text())
        v = metrics["validation"]
        runs.append({"seed": seed, **{k: v[k] for k in ("bleu", "rouge1", "rouge2", "rougeL", "greedy_bleu",
                                                         "greedy_rouge1", "greedy_rouge2", "greedy_rougeL")},
                     "epochs": metrics["epochs_trained"], "fit_seconds": metrics["fit_seconds"],
                     "wall_seconds": metrics["wall_seconds"]})
        print(f"{part} seed {seed}: BLEU {v['bleu']:.2f} (greedy {v['greedy_bleu']:.2f}), ROUGE-1/2/L {v['rouge1']:.2f} / "
              f"{v['rouge2']:.2f} / {v['rougeL']:.2f} in {metrics['fit_seconds']:.0f} s of training", flush=True)
    key = "bleu" if part == "multi30k" else "rougeL"
    middle = sorted(runs, key=lambda r: r[key])[len(runs) // 2]
    run_dir = work / f"{part}_seed{middle['seed']}"
    info = json.loads((run_dir / "data.json").read_text())
    return {"runs": runs, "median": {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "seed"},
            "median_run": middle, "baseline": baseline(part), "run_dir": str(run_dir),
            "examples": info["examples"], "cut_sources": info["cut_sources"], "cut_targets": info["cut_targets"]}


def unfinished(part: str, work: Path) -> dict:
    """`--no-train`: what the work folder's (stopped) run of `part` logged after each epoch (greedy decoding of
    the validation set or its first `epoch_examples`), beside the baseline; nothing is trained."""
    import csv

    run_dir = work / f"{part}_seed{FIRST_SEED}"
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    info = json.loads((run_dir / "data.json").read_text())
    return {"unfinished": True, "epochs": [{k: float(v) for k, v in row.items() if k in (
        "epoch", "loss", "val_loss", "val_bleu", "val_rouge1", "val_rouge2", "val_rougeL", "examples_per_second")}
        for row in rows], "baseline": baseline(part), "run_dir": str(run_dir), "examples": info["examples"],
        "cut_sources": info["cut_sources"], "cut_targets": info["cut_targets"]}


def baseline(part: str) -> dict:
    """Copy the source (translation) or its lead (summarization), scored by the same code on the same pairs."""
    from tfmodels.config import load_config
    from tfmodels.tasks import task_for
    from tfmodels.tasks.s2s_metrics import best_lead_words, lead, text_scores

    splits = task_for(load_config(CONFIGS / SETS[part][0])).load()
    validation = splits["validation"]
    if part == "multi30k":
        return {"name": "copy the source", **text_scores(validation.sources, validation.targets)}
    train = splits["train"].subset(range(2000))
    words, _ = best_lead_words(train.sources, train.targets)
    return {"name": f"lead {words} words (chosen on 2,000 training emails)", "words": words,
            **text_scores([lead(s, words) for s in validation.sources], validation.targets)}


def decoding_speed(run_dir: Path) -> list[dict]:
    """Generated tokens/s (end token included) of greedy cached, greedy uncached and beam 4 cached decoding."""
    import numpy as np
    import tensorflow as tf

    from tfmodels.decoding.beam_search import beam_search, strip_after_end, uncached_greedy
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.saving import load_keras_model
    from tfmodels.tasks import task_for
    from tfmodels.tasks.seq2seq import Codecs

    paths = RunPaths(run_dir)
    config = read_run_config(paths)
    task, codecs = task_for(config), Codecs.read(paths)
    packed = task.evaluation_data(paths, {}, None, "validation")[0]
    model = load_keras_model(paths.model)
    length, start, end = model.target_length, codecs.start_id, codecs.end_id
    variants = {
        "greedy, cached": tf.function(lambda ids: beam_search(model, ids, 1, length, start, end)[0], reduce_retracing=True),
        "greedy, uncached": tf.function(lambda ids: uncached_greedy(model, ids, length, start, end), reduce_retracing=True),
        "beam 4, cached": tf.function(lambda ids: beam_search(model, ids, 4, length, start, end)[0], reduce_retracing=True),
    }
    rows = []
    for batch, count in DECODE_SOURCES.items():
        sources = packed.source_ids[:count]
        width = int(np.max(np.sum(sources != codecs.pad_id, axis=1)))
        sources = sources[:, :width]
        for name, fn in variants.items():
            fn(tf.constant(sources[:batch]))  # traced and warmed
            started, tokens = time.perf_counter(), 0
            for first in range(0, count, batch):
                out = fn(tf.constant(sources[first:first + batch]))
                tokens += sum(len(r) + 1 for r in strip_after_end(out, end, codecs.pad_id).to_list())
            seconds = time.perf_counter() - started
            rows.append({"batch": batch, "variant": name, "tokens_per_second": tokens / seconds,
                         "sentences_per_second": count / seconds})
            print(f"decoding batch {batch}, {name}: {tokens / seconds:,.0f} tokens/s", flush=True)
    return rows


def model_flops_per_pair(model, source_tokens: float, target_tokens: float) -> float:
    """Training FLOPs (forward and backward: 6 x multiply-adds x 2 / 2) of one pair of these lengths: every
    weight matrix once per token of its side, the output projection per target token, and the attention
    scores and weighted sums (self-attention over its own side, cross-attention over the source)."""
    C, F, V = model.width, model.ffn_dim, model.target_vocabulary_size
    encoder = model.encoder_layers * (4 * C * C + 2 * C * F)  # multiply-adds a source token
    decoder = model.decoder_layers * (8 * C * C + 2 * C * F) + C * V  # a target token (with the output projection)
    attention = (model.encoder_layers * 2 * source_tokens * C * source_tokens
                 + model.decoder_layers * 2 * C * (target_tokens * target_tokens + target_tokens * source_tokens))
    return 6 * (encoder * source_tokens + decoder * target_tokens + attention)


def training_speed(steps: int = 30) -> dict:
    """Tokens/s and model FLOP/s of the Multi30k config's training step (its own precision), on its real batches."""
    import keras
    import numpy as np

    from benchmarks.suite import ceiling
    from tfmodels import runtime
    from tfmodels.config import load_config
    from tfmodels.tasks import task_for
    from tfmodels.training.optimizers import build_optimizer

    config = load_config(CONFIGS / SETS["multi30k"][0])
    keras.mixed_precision.set_dtype_policy(runtime.resolve_precision(config.runtime.precision)[0])
    task = task_for(config)
    data = task.prepare(task.load())
    batch = config.trainer.batch_size
    train_ds, _ = task.datasets(data, batch, config.runtime.seed, epochs=1)
    batches = list(train_ds.take(steps + 5))
    model = task.build_model(data)
    model.compile(optimizer=build_optimizer(config.trainer, 1000, 1), **task.compile_args())
    for x, y, w in batches[:5]:  # traced and warmed, one shape after another
        model.train_on_batch(x, y, sample_weight=w)
    pad, tokens, flops = data.preprocessor.pad_id, 0, 0.0
    started = time.perf_counter()
    for x, y, w in batches[5:]:
        model.train_on_batch(x, y, sample_weight=w)
    seconds = time.perf_counter() - started
    for x, y, _ in batches[5:]:
        s = np.sum(x["source_ids"].numpy() != pad, axis=1)
        t = np.sum(y.numpy() != pad, axis=1)
        tokens += int(s.sum() + t.sum())
        flops += sum(model_flops_per_pair(model, float(a), float(b)) for a, b in zip(s, t))
    top = ceiling(2048, 5)
    achieved = flops / seconds / 1e9
    return {"precision": config.runtime.precision, "policy": keras.mixed_precision.global_policy().name,
            "steps": steps, "batch": batch, "tokens_per_second": tokens / seconds, "ms_per_step": 1000 * seconds / steps,
            "model_gflops_per_second": achieved, "ceiling_bfloat16": top["bfloat16"]["median"],
            "ceiling_float32": top["float32"]["median"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--parts", default="multi30k,aeslc,decoding,training")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-train", action="store_true",
                        help="report the work folder's unfinished runs as they stand (their per-epoch validation)")
    args = parser.parse_args(argv)
    shared = Path(args.shared_data or default_shared_data())
    os.environ["TFMODELS_SHARED_DATA"] = str(shared)
    work = Path(args.work or tempfile.mkdtemp(prefix="s2s-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for part in args.parts.split(","):
        if part == "report":
            pass
        elif part == "decoding":
            if "multi30k" not in results:
                raise SystemExit("decoding needs the multi30k part first")
            results["decoding"] = {"rows": decoding_speed(Path(results["multi30k"]["run_dir"])), "machine": machine(),
                                   "date": now_stamp()}
        elif part == "training":
            results["training"] = {**training_speed(), "machine": machine(), "date": now_stamp()}
        elif args.no_train:
            results[part] = unfinished(part, work)
        else:
            results[part] = seeded(part, work, args.seeds)
        saved.write_text(json.dumps(results, indent=2))
        write_section("sequence to sequence", report(results))
        print(f"[{part} done]", flush=True)
    print(report(results))


def report(results: dict) -> str:
    lines = ["## Sequence to sequence: Multi30k and AESLC", "",
             "`python -m benchmarks.seq2seq`. The encoder-decoder Transformer from random init "
             "(`configs/s2s_multi30k.yaml`, `configs/s2s_aeslc.yaml`). BLEU is sacreBLEU's corpus BLEU (13a, cased); "
             "ROUGE is rouge-score's F-measure (stemmed), the mean over examples; both on a 0-100 scale. Baselines are "
             "scored by the same code on the same pairs.", "",
             "| set | target | BLEU beam 4 (median) | BLEU greedy | ROUGE-1 / 2 / L beam 4 | ROUGE-1 / 2 / L greedy | "
             "per seed | baseline | baseline BLEU | baseline ROUGE-1 / 2 / L | epochs | training s (median run) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for part, (_, label, target) in SETS.items():
        if part not in results or results[part].get("unfinished"):
            continue
        r, m, b = results[part], results[part]["median"], results[part]["baseline"]
        key = "bleu" if part == "multi30k" else "rougeL"
        per_seed = ", ".join(f"{x[key]:.2f}" for x in r["runs"])
        lines.append(f"| {label} | {f'BLEU {target:.0f}' if target else 'above the baseline'} | {m['bleu']:.2f} | "
                     f"{m['greedy_bleu']:.2f} | {m['rouge1']:.2f} / {m['rouge2']:.2f} / {m['rougeL']:.2f} | "
                     f"{m['greedy_rouge1']:.2f} / {m['greedy_rouge2']:.2f} / {m['greedy_rougeL']:.2f} | "
                     f"{key}: {per_seed} | {b['name']} | {b['bleu']:.2f} | {b['rouge1']:.2f} / {b['rouge2']:.2f} / "
                     f"{b['rougeL']:.2f} | {r['median_run']['epochs']} | {r['median_run']['fit_seconds']:.0f} |")
    for part, (_, label, _) in SETS.items():
        if part in results and results[part].get("unfinished"):
            r, b = results[part], results[part]["baseline"]
            lines += ["", f"{label}: **stopped after {len(r['epochs'])} epoch(s), not finished** (no beam-search score); "
                          "greedy validation after each epoch: " + "; ".join(
                              f"epoch {int(e['epoch']) + 1}: ROUGE-1/2/L {e['val_rouge1']:.2f} / {e['val_rouge2']:.2f} / "
                              f"{e['val_rougeL']:.2f}, BLEU {e['val_bleu']:.2f}, val loss {e['val_loss']:.3f}, "
                              f"{e['examples_per_second']:.1f} pairs/s" for e in r["epochs"])
                          + f". Baseline ({b['name']}): ROUGE-1/2/L {b['rouge1']:.2f} / {b['rouge2']:.2f} / "
                          f"{b['rougeL']:.2f}, BLEU {b['bleu']:.2f}."]
    seeds = {part: len(results[part]["runs"]) for part in SETS if part in results and "runs" in results[part]}
    if any(n < 3 for n in seeds.values()):
        lines += ["", "Seeds: " + ", ".join(f"{SETS[p][1]}: {n}" for p, n in seeds.items()) + " (fewer than 3: "
                  "stopped for time)."]
    missing = [label for part, (_, label, _) in SETS.items() if part not in results]
    if missing:
        lines += ["", "Not measured in this run (stopped for time): " + "; ".join(missing) + "."]
    for part in SETS:
        if part in results:
            cut, cut_targets = results[part]["cut_sources"], results[part]["cut_targets"]
            lines += ["", f"{SETS[part][1]}: sources cut to the model's length: train {cut.get('train', 0)}, "
                          f"validation {cut.get('validation', 0)}; targets cut: {cut_targets.get('train', 0)} / "
                          f"{cut_targets.get('validation', 0)}."]
    lines += ["", "Training seconds are `fit_seconds` of the run (per-epoch greedy validation decoding included); "
                  "tests shared the 2 cores during the runs, so they are upper bounds."]
    if "decoding" in results:
        d = results["decoding"]
        lines += ["", f"Decoding, Multi30k model, validation sources ({d['machine']}; {d['date']}): generated tokens/s "
                      "(the end token included).", "", "| batch | variant | tokens/s | sentences/s |", "|---|---|---|---|"]
        lines += [f"| {r['batch']} | {r['variant']} | {r['tokens_per_second']:,.0f} | {r['sentences_per_second']:.1f} |"
                  for r in d["rows"]]
    if "training" in results:
        t = results["training"]
        lines += ["", f"Training step, Multi30k config ({t['machine']}; {t['date']}): {t['policy']}, batch {t['batch']} "
                      f"pairs cut to their longest, {t['steps']} steps: {t['tokens_per_second']:,.0f} tokens/s (source + "
                      f"target), {t['ms_per_step']:.0f} ms a step; {t['model_gflops_per_second']:.1f} model GFLOP/s = "
                      f"{t['model_gflops_per_second'] / t['ceiling_bfloat16']:.1%} of the measured bfloat16 ceiling "
                      f"({t['ceiling_bfloat16']:.0f} GFLOP/s, 2048 x 2048 products) and "
                      f"{t['model_gflops_per_second'] / t['ceiling_float32']:.1%} of the float32 one "
                      f"({t['ceiling_float32']:.0f})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
