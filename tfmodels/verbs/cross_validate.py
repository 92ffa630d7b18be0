"""`tfmodels cv CONFIG --folds K`: K-fold cross-validation, each fold an ordinary run folder.

    folds of the training set (stratified, seeded: data.folds) -> for fold k: train on the other K - 1 folds,
    validate on fold k, in OUT/fold-k (a finished fold is read, an unfinished one resumed) -> the mean and sample
    standard deviation of every validation (and test) metric over the folds: OUT/cv.json, OUT/cv.md and
    TensorBoard's HParams (OUT/logs).

The folds are drawn from `data.folds.seed` (not the run's seed): every config cross-validated with the same
seed sees the same folds, so two configs' scores differ by the models, not by the split.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tfmodels.config import Config, apply_overrides, flat_dict
from tfmodels.errors import ConfigError
from tfmodels.files import atomic_write_json, atomic_write_text
from tfmodels.run_folder import RunPaths, finished_run_of


@dataclass
class CVResult:
    out_dir: Path
    folds: list[dict]  # each fold's metrics.json
    summary: dict  # {"validation": {metric: {"mean", "sd", "values"}}, ...}


def default_cv_dir(config: Config, folds: int) -> Path:
    return Path("runs") / f"{config.name}-cv{folds}"


def fold_config(config: Config, folds: int, index: int) -> Config:
    """The config of fold `index` (0-based) of `folds`."""
    return apply_overrides(config, [f"data.folds.count={folds}", f"data.folds.index={index}",
                                    f"name={config.name}-fold{index + 1}"])


def cross_validate(config: Config, folds: int, out_dir: str | Path | None = None,
                   log: Callable[[str], None] = lambda _: None, callbacks=()) -> CVResult:
    """Trains (or resumes, or reads) the `folds` runs of `config` and summarises their metrics."""
    from tfmodels.verbs.train import train

    if folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds")
    config = fold_config(config, folds, 0).validate()  # a config that cannot take folds fails before any training
    out = Path(out_dir) if out_dir is not None else default_cv_dir(config, folds)
    results = []
    for k in range(folds):
        fold = fold_config(config, folds, k)
        paths = RunPaths(out / f"fold-{k + 1}")
        metrics = finished_run_of(paths, fold.validate())
        if metrics is None:
            log(f"fold {k + 1} of {folds}: training in {paths.root}")
            metrics = train(fold, paths.root, log=log, callbacks=list(callbacks)).metrics
        else:
            log(f"fold {k + 1} of {folds}: finished already in {paths.root}")
        results.append(metrics)
    summary = summarise(results)
    write_report(out, config, folds, results, summary)
    return CVResult(out, results, summary)


def summarise(results: list[dict]) -> dict:
    """{split: {metric: {"mean", "sd", "values"}}} over the folds for every number each fold has (sd: the sample
    standard deviation, n - 1), and the training seconds."""
    summary: dict = {}
    for role in ("validation", "test"):
        names = [k for k, v in results[0].get(role, {}).items() if isinstance(v, (int, float))]
        rows = {name: [r[role][name] for r in results if isinstance(r.get(role, {}).get(name), (int, float))]
                for name in names}
        summary[role] = {name: _stats(values) for name, values in rows.items() if len(values) == len(results)}
    summary["fit_seconds"] = _stats([r.get("fit_seconds", 0.0) for r in results])
    return {k: v for k, v in summary.items() if v}


def _stats(values: list[float]) -> dict:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "sd": sd, "values": values}


def write_report(out: Path, config: Config, folds: int, results: list[dict], summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "cv.json", {"config": config.name, "folds": folds, "seed": config.data.folds.seed,
                                        "written": time.strftime("%Y-%m-%d %H:%M:%S"), **summary})
    atomic_write_text(out / "cv.md", format_table(summary, folds))
    _write_hparams(out / "logs", config, folds, summary)


def format_table(summary: dict, folds: int) -> str:
    """A Markdown table: a row a metric, a column a fold, then mean ± sd."""
    lines = [f"| metric | {' | '.join(f'fold {k + 1}' for k in range(folds))} | mean ± sd |",
             "|---" * (folds + 2) + "|"]
    for role in ("validation", "test"):
        for name, s in summary.get(role, {}).items():
            lines.append(f"| {role} {name} | " + " | ".join(f"{v:.4f}" for v in s["values"])
                         + f" | {s['mean']:.4f} ± {s['sd']:.4f} |")
    s = summary["fit_seconds"]
    lines.append("| training seconds | " + " | ".join(f"{v:.0f}" for v in s["values"]) + f" | {s['mean']:.0f} ± {s['sd']:.0f} |")
    return "\n".join(lines) + "\n"


def _write_hparams(log_dir: Path, config: Config, folds: int, summary: dict) -> None:
    """One HParams row for the cross-validated config: its keys, and `cv/<split>/<metric>` means and sds."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams = {k: v for k, v in flat_dict(config).items() if k != "data.folds.index"}
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hp.hparams(hparams, trial_id=f"{config.name}-cv{folds}")
        for role in ("validation", "test"):
            for name, s in summary.get(role, {}).items():
                tf.summary.scalar(f"cv/{role}/{name}/mean", s["mean"], step=0)
                tf.summary.scalar(f"cv/{role}/{name}/sd", s["sd"], step=0)
