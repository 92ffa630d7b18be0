"""The study: Optuna's store, sampler and pruner, through its public API; the trials' locks, and the
retry of a trial whose process died."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Callable

from tfmodels.files import file_lock
from tfmodels.search.plan import SearchPlan
from tfmodels.search.space import Parameter

STALE = "stale_trials"  # the study's user attribute listing the trials that died and were queued again


def _grid_sampler():
    import optuna

    class WorkerGridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its `after_trial`, which calls `study.stop()` once the grid is done:
        that stops `study.optimize` and raises under ask/tell (the last trial's `tell` failed with a
        RuntimeError). Here the worker's loop stops at the plan's count, which is the grid's size."""

        def after_trial(self, study, trial, state, values) -> None:
            pass

    return WorkerGridSampler


def open_study(plan: SearchPlan, worker: int = 0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = plan.base.runtime.seed + worker  # workers sample apart
    if plan.sampler == "grid":
        sampler = _grid_sampler()({p.key: list(p.grid) for p in plan.space}, seed=seed)
    elif plan.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, plan.trials // 4)))
    # median: a trial is stopped after an epoch when its best so far is worse than the median of the earlier
    # trials at that epoch (after 3 trials). halving: asynchronous successive halving (Li et al. 2020), rungs
    # after epochs 2, 4, 10... (steps 1, 3, 9): a trial goes on only if it is in the best third at the rung.
    pruner = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
              "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
              "none": optuna.pruners.NopPruner}[plan.pruner]()
    return optuna.create_study(study_name="search", storage=plan.storage_url, sampler=sampler, pruner=pruner,
                               direction=plan.direction, load_if_exists=True)


def suggest(trial, space: list[Parameter]) -> dict:
    """The trial's value of every searched key (Optuna's distributions)."""
    values = {}
    for p in space:
        if p.kind == "choice":
            # Optuna's choices are scalars: a list choice (data.text.text_column: [[0, 1], [1, 2]]) goes as JSON.
            encoded = [json.dumps(c) if isinstance(c, (list, dict)) else c for c in p.choices]
            values[p.key] = decoded(trial.suggest_categorical(p.key, encoded), p)
        elif p.kind == "int_uniform":
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=p.step or 1)
        else:
            values[p.key] = trial.suggest_float(p.key, float(p.low), float(p.high), log=p.kind == "log_uniform")
    return values


def trial_lock(plan: SearchPlan, number: int) -> Path:
    return plan.study_dir / "trials" / f".{number:03d}.search.lock"


def requeue_dead_trials(study, plan: SearchPlan, log: Callable[[str], None]) -> None:
    """A trial of this machine that the store says runs but whose lock nobody holds died with its process
    (SIGKILL, power): marked failed (`stale`), and queued again with its parameters and run folder."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("host", socket.gethostname()) != socket.gethostname():
            continue  # another machine's (a shared --storage): its lock is not ours to see
        with file_lock(trial_lock(plan, t.number), blocking=False) as free:
            if not free:
                continue  # alive
            # Its owner tells the study how it ended before letting go of the lock, and `t` may predate
            # that tell (two workers, measured in CI): read its state again now that the lock is ours.
            if t.number not in {r.number for r in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}:
                continue  # it ended while we looked: not dead
            run = t.user_attrs.get("run")  # None: it died before it was given a folder (nothing ran)
            # Optuna's public API sets no attribute on another process's trial: the study keeps the list.
            study.set_user_attr(STALE, sorted({*stale_trials(study), t.number}))
            study.tell(t.number, state=TrialState.FAIL)
            if run is not None:
                study.enqueue_trial(t.params, user_attrs={"run": run, "retry_of": t.number})
                why = "stopped at --max-time" if t.user_attrs.get("interrupted") else "died with its process"
                log(f"trial {t.number} {why}: queued again, to resume in trials/{run}")


def counted(study) -> tuple[int, int, int]:
    """(ended: complete, pruned or failed by itself; running; waiting)."""
    from optuna.trial import TrialState

    trials, stale = study.get_trials(deepcopy=False), set(stale_trials(study))
    ended = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or
                (t.state == TrialState.FAIL and t.number not in stale) for t in trials)
    return (ended, sum(t.state == TrialState.RUNNING for t in trials),
            sum(t.state == TrialState.WAITING for t in trials))


def stale_trials(study) -> list[int]:
    """The numbers of the trials that died with their process (each queued again, or never started)."""
    return list(study.user_attrs.get(STALE, []))


def decoded(value, p: Parameter):
    if p.kind == "choice" and isinstance(value, str) and value not in p.choices:
        return json.loads(value)  # a list choice, stored as JSON text
    return value


