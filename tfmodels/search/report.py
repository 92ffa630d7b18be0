"""The search's report: the table of trials (trials.csv), the objective against each parameter
(objective.png), the best trial's config (best.yaml), and TensorBoard's HParams dashboard."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from tfmodels.config import apply_overrides, dump_config
from tfmodels.files import atomic_write_text
from tfmodels.search.plan import SearchPlan
from tfmodels.search.study import decoded, open_study, stale_trials


def history_values(run_dir: Path, objective: str) -> list[float]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [float(row[objective]) for row in csv.DictReader(f) if row.get(objective) not in (None, "")]


def best_of(values: list[float], direction: str) -> float:
    if not values:
        return math.nan
    return max(values) if direction == "maximize" else min(values)


def write_hparams(run_dir: Path, number: int, values: dict, plan: SearchPlan) -> None:
    """The trial's session for TensorBoard's HParams dashboard (`run_dir/logs`, beside Keras's train/validation)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(run_dir / "logs")).as_default():
        hp.hparams({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in values.items()},
                   trial_id=f"{number:03d}")


def write_experiment(plan: SearchPlan) -> None:
    """The experiment (which parameters and metrics the dashboard shows), at the study's top."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    metric = plan.objective.removeprefix("val_")
    with tf.summary.create_file_writer(str(plan.study_dir / "logs")).as_default():
        hp.hparams_config(hparams=[hp.HParam(p.key) for p in plan.space],
                          metrics=[hp.Metric(f"epoch_{metric}", group="validation", display_name=plan.objective)])


def report_rows(plan: SearchPlan) -> tuple[list[dict], dict | None]:
    from optuna.trial import TrialState

    study = open_study(plan)
    rows, stale = [], set(stale_trials(study))
    for t in study.get_trials(deepcopy=False):
        if t.number in stale:
            continue  # its retry is the row
        state = "stopped" if t.state == TrialState.RUNNING and t.user_attrs.get("interrupted") else t.state.name.lower()
        value = t.value if t.state == TrialState.COMPLETE else best_of(
            list(t.intermediate_values.values()), plan.direction)
        rows.append({"trial": t.number, "run": f"trials/{t.user_attrs.get('run', f'{t.number:03d}')}",
                     "state": state, plan.objective: value, **t.params,
                     "seconds": t.user_attrs.get("seconds", "")})
    complete = [r for r in rows if r["state"] == "complete" and not math.isnan(r[plan.objective])]
    best = (max if plan.direction == "maximize" else min)(complete, key=lambda r: r[plan.objective]) \
        if complete else None
    return rows, best


def write_report(plan: SearchPlan, rows: list[dict], best: dict | None) -> Path | None:
    from tfmodels.plots import objective_png

    keys = [p.key for p in plan.space]
    columns = ["trial", "state", plan.objective, *keys, "seconds", "run"]
    with open(plan.study_dir / "trials.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (plan.study_dir / "objective.png").write_bytes(objective_png(
        {k: [r.get(k) for r in rows] for k in keys}, [r[plan.objective] for r in rows],
        [r["state"] for r in rows], plan.objective))
    if best is None:
        return None
    config = apply_overrides(plan.base, [p.override(decoded(best[p.key], p)) for p in plan.space])
    path = plan.study_dir / "best.yaml"
    atomic_write_text(path, f"# the best trial of {plan.study_dir} (trial {best['trial']}, {plan.objective} "
                            f"{best[plan.objective]:.4f}): tfmodels train {path}\n" + dump_config(config))
    return path


def table(rows: list[dict], plan: SearchPlan) -> str:
    keys = [p.key for p in plan.space]
    head = ["trial", "state", plan.objective, *keys, "seconds"]
    lines = ["  ".join(head)]
    for r in rows:
        cells = [str(r["trial"]), r["state"], "" if math.isnan(r[plan.objective]) else f"{r[plan.objective]:.4f}"]
        cells += [f"{r.get(k):.4g}" if isinstance(r.get(k), float) else str(r.get(k)) for k in keys]
        lines.append("  ".join([*cells, str(r["seconds"])]))
    return "\n".join(lines)
