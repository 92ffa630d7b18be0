"""Train a shipped config with overrides, evaluate it, and return the numbers a benchmark reports."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import CONFIGS


def trained_run(config_file: str, overrides: list[str], run_dir: Path) -> Path:
    """`run_dir` holding a finished run of the shipped config with `overrides`: trained unless it is there."""
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / config_file), ["logging.verbose=0", *overrides])
    if not finished_run_of(RunPaths(Path(run_dir)), config):
        train(config, run_dir)
    return Path(run_dir)


def train_and_evaluate(config_file: str, overrides: list[str], run_dir: Path) -> dict:
    """Trains in `run_dir` (an unfinished run there resumes). A benchmark rerun with the same work folder
    does not train again: a finished run of the same config is evaluated as it is, its seconds read
    from its metrics; a finished run of another config is refused (the trainer's own check)."""
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / config_file), ["logging.verbose=0", *overrides])
    started = time.time()
    metrics = finished_run_of(RunPaths(Path(run_dir)), config)
    if metrics is None:
        metrics = train(config, run_dir).metrics
        seconds = time.time() - started
    else:
        print(f"{run_dir}: a finished run of this config, not trained again", flush=True)
        seconds = metrics["wall_seconds"]
    _, evaluation = evaluate_run(run_dir)
    return {"seconds": seconds, "accuracy": evaluation["accuracy"], "examples": evaluation["examples"],
            "epochs": metrics["epochs_trained"], "examples_per_second": metrics["examples_per_second"],
            "fit_seconds": metrics["fit_seconds"], "config": config}
