"""Train a shipped config with overrides, evaluate it, and return the numbers a benchmark reports."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import CONFIGS


def train_and_evaluate(config_file: str, overrides: list[str], run_dir: Path) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / config_file), ["logging.verbose=0", *overrides])
    started = time.time()
    result = train(config, run_dir)
    _, evaluation = evaluate_run(run_dir)
    return {"seconds": time.time() - started, "accuracy": evaluation["accuracy"], "examples": evaluation["examples"],
            "epochs": result.metrics["epochs_trained"], "examples_per_second": result.metrics["examples_per_second"],
            "fit_seconds": result.metrics["fit_seconds"], "config": config}
