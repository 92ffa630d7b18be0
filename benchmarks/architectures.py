"""Every architecture side by side on the same data: images (CIFAR-10, MNIST 5k), text (SST-2, IMDB), and
cross-validation (the digits).

    python -m benchmarks.architectures [--shared-data ../shared/data] [--work DIR] [--seeds 3]
        [--parts cifar_cnn,cifar_vit,cifar_mlp,mnist_cnn,mnist_mlp,sst2_textcnn,sst2_lstm,sst2_gru,
                 sst2_transformer,sst2_bow,imdb_textcnn,imdb_lstm,imdb_gru,imdb_transformer,imdb_bow,digits_cv,report]

- cifar_*: the 50,000 shared CIFAR-10 training images (JPEG in a tar.gz), 5,000 (10%, seeded) carved for
  validation: ResNet-20 (`configs/cnn_cifar10.yaml`, target 0.88 in at most 45 minutes of training), the ViT
  (`vit_cifar10.yaml`, target 0.75) and the MLP (`mlp_cifar10.yaml`); validation accuracy.
- mnist_*: the 5,000 shared MNIST digits, a fifth held out (`cnn_mnist5k.yaml`, target 0.985; `mlp_mnist5k.yaml`).
- sst2_* / imdb_*: TextCNN, BiLSTM, BiGRU, the Transformer and the bag of words with one tokenizer, data and
  budget (SST-2 dev: `*_sst2.yaml`, Kim's 0.827 for the random-init CNN; IMDB val: `encoder_imdb.yaml` with
  model.type changed).
- digits_cv: `tfmodels cv` of `mlp_digits.yaml` and `cnn_digits.yaml`, 5 folds of the 1,257 training digits,
  mean and sd beside each config's fixed split (its test accuracy).
- report: the section written again from the work folder's results.json.

The median of `--seeds` seeds (runtime.seed 1..N), each seed's score and the training time (fit seconds) beside
it. A finished run in the work folder is not trained again. Writes the "architectures" section of
docs/benchmarks.md, naming the CPU; times compare only inside one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import trained_run

RNN = ["model.rnn.embedding_dim=128", "model.rnn.units=128", "model.head.pooling=max", "model.head.dropout=0.3"]
IMDB = {"textcnn": ["model.type=textcnn", "model.head.pooling=max", "model.head.dropout=0.5"],
        "lstm": ["model.type=lstm", *RNN], "gru": ["model.type=gru", *RNN], "transformer": [],
        "bow": ["model.type=bag_of_words", "model.head.pooling=mean"]}
PARTS = {  # part: (config, overrides, label, split scored, target)
    "cifar_cnn": ("cnn_cifar10.yaml", [], "CIFAR-10 (5,000 carved): ResNet-20", "validation", 0.88),
    "cifar_vit": ("vit_cifar10.yaml", [], "CIFAR-10 (5,000 carved): ViT 6 x 128, 4x4 patches", "validation", 0.75),
    "cifar_mlp": ("mlp_cifar10.yaml", [], "CIFAR-10 (5,000 carved): MLP 1024-512", "validation", None),
    "mnist_cnn": ("cnn_mnist5k.yaml", [], "MNIST 5k (a fifth held out): ResNet, 2 stages", "test", 0.985),
    "mnist_mlp": ("mlp_mnist5k.yaml", [], "MNIST 5k (a fifth held out): MLP 512-256", "test", 0.97),
    "sst2_textcnn": ("textcnn_sst2.yaml", [], "SST-2 dev: TextCNN (Kim 2014), random init", "test", 0.82),
    "sst2_lstm": ("lstm_sst2.yaml", [], "SST-2 dev: BiLSTM", "test", None),
    "sst2_gru": ("gru_sst2.yaml", [], "SST-2 dev: BiGRU", "test", None),
    "sst2_transformer": ("encoder_sst2.yaml", [], "SST-2 dev: Transformer, 2 x 128", "test", None),
    "sst2_bow": ("encoder_sst2.yaml", ["model.type=bag_of_words", "model.head.pooling=mean"],
                 "SST-2 dev: bag of words", "test", None),
    **{f"imdb_{kind}": ("encoder_imdb.yaml", overrides, f"IMDB val: {name}", "test", None) for kind, (overrides, name) in {
        "textcnn": (IMDB["textcnn"], "TextCNN"), "lstm": (IMDB["lstm"], "BiLSTM"), "gru": (IMDB["gru"], "BiGRU"),
        "transformer": (IMDB["transformer"], "Transformer, 1 x 64"), "bow": (IMDB["bow"], "bag of words")}.items()},
}
CV = ("mlp_digits.yaml", "cnn_digits.yaml")
FOLDS = 5


def seeded(part: str, work: Path, seeds: int) -> dict:
    config_file, overrides, _, split, _ = PARTS[part]
    runs = []
    for seed in range(1, seeds + 1):
        run = trained_run(config_file, [*overrides, f"runtime.seed={seed}"], work / f"{part}_seed{seed}")
        metrics = json.loads((run / "metrics.json").read_text())
        runs.append({"seed": seed, "accuracy": metrics[split]["accuracy"], "epochs": metrics["epochs_trained"],
                     "fit_seconds": metrics["fit_seconds"], "weights": metrics["weights"]["total"]})
        print(f"{part} seed {seed}: {split} accuracy {runs[-1]['accuracy']:.4f}, {metrics['epochs_trained']} epochs "
              f"in {metrics['fit_seconds']:.0f} s of training", flush=True)
    return {"runs": runs, "accuracy": statistics.median(r["accuracy"] for r in runs),
            "fit_seconds": statistics.median(r["fit_seconds"] for r in runs)}


def cross_validated(work: Path) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.cross_validate import cross_validate

    results = {}
    for config_file in CV:
        name = config_file.removesuffix(".yaml")
        fixed = trained_run(config_file, [], work / f"{name}_fixed")
        fixed_metrics = json.loads((fixed / "metrics.json").read_text())
        config = apply_overrides(load_config(CONFIGS / config_file), ["logging.verbose=0"])
        summary = cross_validate(config, FOLDS, work / f"{name}_cv{FOLDS}").summary
        results[name] = {"fixed_test": fixed_metrics["test"]["accuracy"],
                         "fixed_validation": fixed_metrics["validation"]["accuracy"],
                         "fixed_fit_seconds": fixed_metrics["fit_seconds"],
                         "cv": summary["validation"]["accuracy"], "cv_fit_seconds": summary["fit_seconds"]}
        cv = summary["validation"]["accuracy"]
        print(f"{name}: {FOLDS}-fold {cv['mean']:.4f} ± {cv['sd']:.4f}; fixed split test "
              f"{results[name]['fixed_test']:.4f}", flush=True)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--parts", default=",".join([*PARTS, "digits_cv"]))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data or default_shared_data()))
    work = Path(args.work or tempfile.mkdtemp(prefix="architectures-"))
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for part in args.parts.split(","):
        if part == "digits_cv":
            results[part] = cross_validated(work)
        elif part in PARTS:
            results[part] = seeded(part, work, args.seeds)
        elif part != "report":
            raise SystemExit(f"--parts: unknown part {part!r}; parts are {', '.join([*PARTS, 'digits_cv', 'report'])}")
        saved.write_text(json.dumps(results, indent=2))
        write_section("architectures", report(results))
        print(f"[{part} done]", flush=True)
    print(report(results))


def report(results: dict) -> str:
    lines = ["## Architectures side by side: CNN, ViT and MLP on images; TextCNN, BiLSTM, BiGRU, Transformer and "
             "bag of words on text", "",
             "`python -m benchmarks.architectures`. Accuracy on the split named (the median of the seeds run, each "
             "seed's beside it), with the training time of the median seed's config (fit seconds: the epochs, not "
             "data loading). Every row of a group reads the same data with the same split (and, for text, the same "
             "tokenizer and budget).", "",
             "| data: model | target | accuracy (median) | per seed | epochs | training s (median) | weights |",
             "|---|---|---|---|---|---|---|"]
    for part, (_, _, label, _, target) in PARTS.items():
        if part not in results:
            continue
        r = results[part]
        per_seed = ", ".join(f"{x['accuracy']:.4f}" for x in r["runs"])
        lines.append(f"| {label} | {f'{target}' if target else '-'} | {r['accuracy']:.4f} | {per_seed} | "
                     f"{r['runs'][0]['epochs']} | {r['fit_seconds']:.0f} | {r['runs'][0]['weights']:,} |")
    missing = [label for part, (_, _, label, _, _) in PARTS.items() if part not in results]
    if missing:
        lines += ["", "Not measured in this run (stopped for time): " + "; ".join(missing) + "."]
    seeds = {PARTS[p][2]: len(results[p]["runs"]) for p in PARTS if p in results and len(results[p]["runs"]) < 3}
    if seeds:
        lines += ["", "Fewer than 3 seeds (stopped for time): " + "; ".join(f"{k}: {v}" for k, v in seeds.items()) + "."]
    if "digits_cv" in results:
        lines += ["", f"Cross-validation (`tfmodels cv CONFIG --folds {FOLDS}`: stratified folds of the 1,257 training "
                      "digits, seed 0), beside the same config on its fixed 70/15/15 split:", "",
                  "| config | CV accuracy, mean ± sd | per fold | fixed split: validation / test | training s "
                  "(a fold, mean) |", "|---|---|---|---|---|"]
        for name, r in results["digits_cv"].items():
            cv = r["cv"]
            lines.append(f"| {name} | {cv['mean']:.4f} ± {cv['sd']:.4f} | {', '.join(f'{v:.4f}' for v in cv['values'])} "
                         f"| {r['fixed_validation']:.4f} / {r['fixed_test']:.4f} | {r['cv_fit_seconds']['mean']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
