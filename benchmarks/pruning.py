"""Magnitude pruning, measured: test accuracy at 50, 75 and 90% sparsity beside the dense model, and the
gzip size of the weights, for the digits MLP.

    python -m benchmarks.pruning [--work DIR]

`configs/mlp_digits.yaml` as shipped, trained again with `trainer.pruning.target_sparsity` 0.5, 0.75 and
0.9 (the cubic schedule from step 0 to three quarters of the steps; every Dense kernel). Reports the
digits' held-out test accuracy (270), each kernel's sparsity, and the size of the weights file alone
(`model.weights.h5`, no optimizer state) raw and gzipped. Writes the "pruning" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS
from benchmarks.report import write_section

SPARSITIES = (0.0, 0.5, 0.75, 0.9)


def run(work: Path, sparsity: float) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.saving import load_keras_model
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / "mlp_digits.yaml"),
                             ["logging.verbose=0", f"trainer.pruning.target_sparsity={sparsity}"])
    folder = work / f"mlp-{int(sparsity * 100)}"
    metrics = finished_run_of(RunPaths(folder), config) or train(config, folder).metrics
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model.weights.h5"
        load_keras_model(folder / "model.keras").save_weights(weights)
        raw, packed = weights.stat().st_size, len(gzip.compress(weights.read_bytes()))
    kernels = metrics.get("sparsity", {}).get("kernels", {})
    return {"sparsity": sparsity, "accuracy": metrics["test"]["accuracy"], "bytes": raw, "gzip": packed,
            "kernels": ", ".join(f"{p.split('/')[-2]} {v:.2f}" for p, v in kernels.items()) or "-"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tfmodels-pruning")
    args = parser.parse_args(argv)
    rows = [run(args.work, s) for s in SPARSITIES]
    dense = rows[0]
    lines = ["## Pruning: the digits MLP (`benchmarks/pruning.py`)", "",
             "`configs/mlp_digits.yaml` trained with `trainer.pruning.target_sparsity` (cubic schedule to three quarters "
             "of the steps, every Dense kernel; the kept model pruned to the target exactly). Weights file alone, raw and "
             "gzipped. Target: 75% within 1 point of dense. Dense kernels run no faster with zeros in them.", "",
             "| target sparsity | test accuracy | vs dense | kernels' sparsity | weights (KiB) | gzip (KiB) "
             "| gzip vs dense gzip |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['sparsity']:.0%} | {row['accuracy']:.4f} | {row['accuracy'] - dense['accuracy']:+.4f} | "
                     f"{row['kernels']} | {row['bytes'] / 1024:.1f} | {row['gzip'] / 1024:.1f} | "
                     f"{row['gzip'] / dense['gzip']:.0%} |")
    write_section("pruning", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
