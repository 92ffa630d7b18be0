"""Search: a hyper-parameter search (`tfmodels search`) that a user can leave running, in four parts:
the plan (`plan.py`, with the space of `space.py`), the study (`study.py`, Optuna), the worker's loop
(`worker.py`) and the report (`report.py`).

A study is a folder:

    STUDY/study.json        what it searches: the base config, the space, the objective, the sampler
    STUDY/study.db          Optuna's store (SQLite; `--storage URL` for a database server shared by machines)
    STUDY/trials/NNN/       trial NNN: an ordinary run folder (TensorBoard, backups, evaluate, export)
    STUDY/logs/             the TensorBoard HParams dashboard's experiment (`tensorboard --logdir STUDY`)
    STUDY/trials.csv, best.yaml, objective.png    the report, written when the search ends

Optuna samples (grid, random, TPE), prunes (its median or successive-halving pruner, fed after every
epoch) and stores. A
killed search, rerun, goes on where it stopped: finished trials are kept, and a trial whose process died
(its folder's lock free while the store says it runs) is marked failed and queued again with the same
parameters in the same run folder, which the trainer resumes from its backups; it is counted once.
`--workers N` runs N processes on one study: trials are asked for under a file lock, so that together
they start exactly the planned number.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tfmodels.errors import DataError
from tfmodels.files import atomic_write_json
from tfmodels.search.plan import (
    MINIMIZED,
    PRUNERS,
    SAMPLERS,
    SearchPlan,
    check_study_dir,
    direction_of,
    logged_objectives,
    make_plan,
    parse_duration,
    study_record,
)
from tfmodels.search.report import report_rows, table, write_experiment, write_report
from tfmodels.search.study import open_study
from tfmodels.search.worker import run_trial, run_worker


@dataclass
class SearchResult:
    rows: list[dict]
    best: dict | None
    best_config: Path | None
    seconds: float
    in_trials: float


def search(plan: SearchPlan, workers: int = 1, log: Callable[[str], None] = print,
           worker_argv: list[str] | None = None) -> SearchResult:
    """Runs the plan with `workers` processes (this one and workers - 1 started with `worker_argv`)."""
    started = time.time()
    resumed = check_study_dir(plan)
    plan.study_dir.mkdir(parents=True, exist_ok=True)
    if not resumed:
        atomic_write_json(plan.study_dir / "study.json", study_record(plan))
        write_experiment(plan)
    for note in plan.notes:
        log(note)
    deadline = started + plan.max_seconds if plan.max_seconds else None
    open_study(plan)  # made once here, before the other workers open it
    if workers == 1:
        in_trials = run_worker(plan, 0, log, deadline)
    else:  # N processes alike (this one only waits, then reports): none starts ahead of the others
        others = [subprocess.Popen([sys.executable, "-m", "tfmodels", *worker_argv, "--worker", str(k)])
                  for k in range(workers)]
        for process in others:
            process.wait()
        if any(p.returncode for p in others):
            raise DataError(f"a search worker failed (exit codes {[p.returncode for p in others]}); rerun the same "
                            "command to go on where it stopped")
        in_trials = trial_seconds(plan, started) / workers
    rows, best = report_rows(plan)
    best_config = write_report(plan, rows, best)
    return SearchResult(rows, best, best_config, time.time() - started, in_trials)


def trial_seconds(plan: SearchPlan, since: float) -> float:
    """The seconds the study's trials started after `since` spent running (start to end, summed)."""
    total = 0.0
    for t in open_study(plan).get_trials(deepcopy=False):
        if t.datetime_start and t.datetime_complete and t.datetime_start.timestamp() >= since:
            total += (t.datetime_complete - t.datetime_start).total_seconds()
    return total




__all__ = ["MINIMIZED", "PRUNERS", "SAMPLERS", "SearchPlan", "SearchResult", "check_study_dir", "direction_of",
           "logged_objectives", "make_plan", "open_study", "parse_duration", "report_rows", "run_trial", "run_worker",
           "search", "study_record", "table"]
