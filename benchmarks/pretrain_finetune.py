"""Does pretraining help? Masked-LM pretraining on real text, then fine-tuning on SST-2.

    python -m benchmarks.pretrain_finetune [--shared-data ../shared/data] [--seeds 3] [--pretrain-set KEY=VALUE]

1. Pretrain `configs/encoder_mlm.yaml` as shipped (WikiText-2's validation split and the IMDB
   training reviews' text, labels ignored); its perplexity is per masked token.
2. Fine-tune `configs/encoder_sst2_finetune.yaml` on SST-2 train.tsv, report dev.tsv: from the
   pretrained run, from random init (same config and budget, no init.from_run), and the bag-of-words
   baseline (same budget) -- with all 67k labelled examples and with a fixed sample of 1,000.
3. LoRA (LORA below, or --lora-set) against full fine-tuning: accuracy, trainable parameters, time per step.

Prints the numbers and writes them to the "pretrain-finetune" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate
from tfmodels.files import read_json

SST2_TRAIN = "tsv:${TFMODELS_SHARED_DATA}/text_cls/sst2/train.tsv"
# With 1,000 examples the shipped config (batch 32, 2 epochs, learning rate 3e-4, 500 warm-up steps)
# hardly moves: smaller batches, a higher rate, more epochs, warm-up 10% of the steps; the best
# epoch's weights by validation accuracy are kept (docs/quality.md has the screens).
SMALL = ["trainer.batch_size=16", "trainer.learning_rate=0.001", "trainer.warmup_steps=0",
         "trainer.warmup_fraction=0.1", "trainer.early_stopping_patience=0"]
# LoRA's adapters start from zero (one factor) and want a higher rate than full fine-tuning. The
# token embedding gets adapters too: without them LoRA underfits here (docs/quality.md).
LORA = ["trainer.finetune=lora", "trainer.lora_rank=4", "trainer.lora_targets=[attention, feed_forward, token_embedding]",
        "trainer.learning_rate=0.002", "trainer.epochs=3"]


def trainable_parameters(run_dir: Path) -> int:
    """Counted on the model as trained (adapters and head for LoRA), from the config of the run."""
    from tfmodels.config import load_config
    from tfmodels.run_folder import RunPaths
    from tfmodels.tasks import task_for

    config = load_config(run_dir / "config.yaml")
    task = task_for(config)
    data = task.prepare(task.load(), RunPaths(run_dir))
    model = task.build_model(data)
    task.configure_training(model)
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--small-epochs", type=int, default=10, help="fine-tuning epochs with 1,000 examples")
    parser.add_argument("--pretrain-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of configs/encoder_mlm.yaml for pretraining (repeatable)")
    parser.add_argument("--lora-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of the LoRA run, after LORA's (repeatable)")
    parser.add_argument("--work", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="fine-tune every classifier with seeds 1..N and report the median and range")
    parser.add_argument("--pretrained", metavar="RUN_DIR",
                        help="a finished pretraining run of this benchmark to fine-tune from, instead of pretraining")
    args = parser.parse_args()
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        started = time.time()
        if args.pretrained:
            pretrain = pretraining_numbers(Path(args.pretrained), args.pretrain_set)
            (work / "mlm").parent.mkdir(parents=True, exist_ok=True)
            if not (work / "mlm").exists():
                (work / "mlm").symlink_to(Path(args.pretrained).resolve())
        else:
            pretrain = train_and_evaluate_pretraining(work / "mlm", args.pretrain_set)
        print(f"pretraining: {pretrain}", flush=True)
        rows, runs = [], {}
        for label, sample, epochs in (("all 67,349", None, None), ("1,000", 1000, args.small_epochs)):
            # The shipped config warms up for 500 steps; 1,000 examples give fewer steps than that in all.
            extra = [f"data.train={SST2_TRAIN}?sample={sample}", f"trainer.epochs={epochs}", *SMALL] if sample else []
            for name, overrides in (("pretrained, full fine-tuning", [f"init.from_run={work / 'mlm'}"]),
                                    ("random init", []),
                                    ("bag of words", ["model.type=bag_of_words"])):
                results = []
                for seed in range(1, args.seeds + 1):
                    run_dir = work / f"{label}-{name}-seed{seed}".replace(" ", "_").replace(",", "")
                    results.append(train_and_evaluate("encoder_sst2_finetune.yaml",
                                                      [*extra, *overrides, f"runtime.seed={seed}"], run_dir))
                    runs.setdefault((label, name), run_dir)
                    print(label, name, seed, f"{results[-1]['accuracy']:.4f}", flush=True)
                rows.append((label, name, over_seeds(results)))
                write(pretrain, rows, {}, time.time() - started)
        full_dir = runs[("all 67,349", "pretrained, full fine-tuning")]
        lora_dir = work / "lora"
        lora_overrides = [*LORA, *args.lora_set]
        lora_results = [train_and_evaluate("encoder_sst2_finetune.yaml",
                                           [f"init.from_run={work / 'mlm'}", *lora_overrides, f"runtime.seed={seed}"],
                                           lora_dir if seed == 1 else work / f"lora-seed{seed}")
                        for seed in range(1, args.seeds + 1)]
        print("LoRA", [f"{r['accuracy']:.4f}" for r in lora_results], flush=True)
        name = "LoRA: " + ", ".join(f"`{o.split('.', 1)[1]}`" for o in lora_overrides if o != "trainer.finetune=lora")
        lora = {"full": (rows[0][2], full_dir), name: (over_seeds(lora_results), lora_dir)}
        write(pretrain, rows, lora, time.time() - started)


def over_seeds(results: list[dict]) -> dict:
    """The first seed's run, with the median accuracy over all seeds and their range."""
    accuracies = [r["accuracy"] for r in results]
    return {**results[0], "accuracy": float(np.median(accuracies)), "accuracies": accuracies,
            "seconds": float(np.median([r["seconds"] for r in results]))}


def write(pretrain: dict, rows: list, lora: dict, seconds: float) -> None:
    """Rewrites the section with what has been measured so far (a crash keeps the rows before it)."""
    lines = [
        "## Pretraining, then fine-tuning (`benchmarks/pretrain_finetune.py`)",
        "",
        f"Masked-LM pretraining of `configs/encoder_mlm.yaml` ({pretrain['epochs']} epochs"
        + "".join(f", `{o}`" for o in pretrain["overrides"]) + ") on WikiText-2 "
        "validation + the IMDB training reviews' text: "
        f"{pretrain['sequences']:,} sequences of {pretrain['length']} tokens, validation masked accuracy "
        f"**{pretrain['masked_accuracy']:.3f}**, perplexity per masked token **{pretrain['perplexity']:.1f}**, "
        f"{pretrain['tokens_per_second']:,.0f} tokens/s (its fastest epoch), {pretrain['seconds']:.0f} s in all.",
        "",
        "Fine-tuning `configs/encoder_sst2_finetune.yaml` (SST-2 train.tsv, reported on dev.tsv, 872); with 1,000 "
        "examples (a fixed sample) the warm-up is 10% of the steps:",
        "",
        "| labelled examples | model | dev accuracy (median) | min - max | seeds | epochs (seed 1) | seconds (median) |",
        "|---|---|---|---|---|---|---|",
        *[f"| {label} | {name} | {r['accuracy']:.4f} | {min(r['accuracies']):.4f} - {max(r['accuracies']):.4f} | "
          f"{len(r['accuracies'])} | {r['epochs']} | {r['seconds']:.0f} |" for label, name, r in rows],
    ]
    if lora:
        lines += ["", "LoRA against full fine-tuning (both from the pretrained run, all labelled examples):", "",
                  "| fine-tuning | dev accuracy (median) | min - max | trainable parameters | ms per step (seed 1) |",
                  "|---|---|---|---|---|"]
        for name, (result, run_dir) in lora.items():
            info = read_json(run_dir / "data.json")
            steps = result["epochs"] * (info["examples"]["train"] // info["global_batch_size"])
            lines.append(f"| {name} | {result['accuracy']:.4f} | {min(result['accuracies']):.4f} - "
                         f"{max(result['accuracies']):.4f} | {trainable_parameters(run_dir):,} | "
                         f"{1000 * result['fit_seconds'] / steps:.1f} |")
    lines += ["", f"Benchmark time so far: {seconds / 60:.0f} minutes."]
    write_section("pretrain-finetune", "\n".join(lines))
    print("\n".join(lines), flush=True)


def train_and_evaluate_pretraining(run_dir: Path, overrides: list[str]) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / "encoder_mlm.yaml"), ["logging.verbose=2", *overrides])
    train(config, run_dir)
    return pretraining_numbers(run_dir, overrides)


def pretraining_numbers(run_dir: Path, overrides: list[str]) -> dict:
    """What the report says of a finished pretraining run, read from its folder."""
    from tfmodels.config import load_config

    config = load_config(run_dir / "config.yaml")
    info, metrics = read_json(run_dir / "data.json"), read_json(run_dir / "metrics.json")
    history = (run_dir / "history.csv").read_text().splitlines()
    rows = [dict(zip(history[0].split(","), line.split(","))) for line in history[1:]]
    return {"seconds": metrics["wall_seconds"], "overrides": overrides, "epochs": metrics["epochs_trained"],
            "sequences": info["examples"]["train"], "length": config.data.tokenizer.sequence_length,
            "masked_accuracy": metrics["validation"]["masked_accuracy"],
            "perplexity": metrics["validation"]["perplexity"],  # per masked token, over the validation corpus
            "tokens_per_second": max(float(r["tokens_per_second"]) for r in rows)}


if __name__ == "__main__":
    main()
