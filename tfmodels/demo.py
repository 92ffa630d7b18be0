"""The main job on the built-in default: train, evaluate and export the MLP on the bundled digits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from tfmodels.config import apply_overrides, demo_config
from tfmodels.evaluation import evaluate_run, format_report
from tfmodels.export import export_run


def run_demo(runs_dir: str = "runs/demo", overrides: list[str] = (), savedmodels_dir: str = "savedmodels",
             log: Callable[[str], None] = lambda _: None) -> dict:
    """Trains the default config (no network needed) in a new run folder; returns what it made."""
    from tfmodels.training.trainer import train

    started = time.time()
    config = apply_overrides(demo_config(), list(overrides))
    run_dir = Path(runs_dir) / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    log(f"demo: a dense MLP on scikit-learn's bundled 8x8 digits ({config.data.train} / "
        f"{config.data.validation} / {config.data.test} splits)")
    result = train(config, run_dir, log=log)
    name, evaluation = evaluate_run(result.paths.root)
    log(format_report(name, evaluation))
    export_dir = export_run(result.paths.root, savedmodels_dir=savedmodels_dir)
    seconds = time.time() - started
    log(f"\ntest accuracy: {evaluation['accuracy']:.4f} ({evaluation['examples']} held-out digits)")
    log(f"SavedModel: {export_dir}")
    log(f"try it:     tfmodels predict {export_dir} 'digits?split=test'")
    log(f"look at it: tensorboard --logdir {result.paths.logs}")
    log(f"demo took {seconds:.1f}s")
    return {"run_dir": result.paths.root, "export_dir": export_dir, "test_accuracy": evaluation["accuracy"],
            "seconds": seconds}
