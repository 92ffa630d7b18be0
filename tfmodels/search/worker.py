"""One worker's loop: ask the study for a trial, train it in its run folder (an ordinary `tfmodels train`),
report every epoch to the pruner, tell the study how it ended."""

from __future__ import annotations

import os
import socket
import time
from typing import Callable

from tfmodels.config import apply_overrides
from tfmodels.files import file_lock
from tfmodels.search.plan import SearchPlan
from tfmodels.search.report import best_of, history_values, write_hparams
from tfmodels.search.study import counted, open_study, requeue_dead_trials, suggest, trial_lock


def run_worker(plan: SearchPlan, worker: int = 0, log: Callable[[str], None] = print,
               deadline: float | None = None) -> float:
    """Runs trials until the study has its planned number (or the deadline passes); returns the seconds
    spent inside trials."""
    study = open_study(plan, worker)
    in_trials = 0.0
    while True:
        if deadline and time.time() >= deadline:
            return in_trials  # --max-time: nothing more starts, not even a retry
        with file_lock(plan.study_dir / ".ask.lock"):
            requeue_dead_trials(study, plan, log)
            ended, running, waiting = counted(study)
            if not waiting and ended + running >= plan.trials:
                return in_trials
            trial = study.ask()  # a queued retry first, with its run folder
            if "run" not in trial.user_attrs:  # a new trial: the next free folder (retries keep theirs)
                taken = {t.user_attrs.get("run") for t in study.get_trials(deepcopy=False)}
                trial.set_user_attr("run", next(f"{i:03d}" for i in range(len(taken) + 1) if f"{i:03d}" not in taken))
            trial.set_user_attr("host", socket.gethostname())
            lock = file_lock(trial_lock(plan, trial.number))
            lock.__enter__()
        try:
            started = time.time()
            run_trial(study, trial, plan, log, deadline)
            in_trials += time.time() - started
        finally:
            lock.__exit__(None, None, None)


def run_trial(study, trial, plan: SearchPlan, log: Callable[[str], None], deadline: float | None = None) -> None:
    """Trains the trial in its run folder and tells the study how it ended. A trial still training when the
    deadline passes stops at the end of that epoch and stays `running` in the store, its folder resumable:
    the next search on this study finds it dead and resumes it (a stop, not a result)."""
    import keras
    import optuna

    from tfmodels.training.trial_report import DeadlinePassed, ReportEveryEpoch
    from tfmodels.verbs.train import train

    values = suggest(trial, plan.space)
    run = trial.user_attrs["run"]
    trial.set_user_attr("pid", os.getpid())
    run_dir = plan.study_dir / "trials" / run
    for epoch, value in enumerate(history_values(run_dir, plan.objective)):  # a resumed trial's epochs so far
        trial.report(value, epoch)
    if plan.folds:  # a fold's epochs are not the trial's: only the deadline is watched
        reporter = ReportEveryEpoch(plan.objective, lambda value, epoch: None, lambda: False, deadline)
    else:
        reporter = ReportEveryEpoch(plan.objective, trial.report,
                                    trial.should_prune if plan.pruner != "none" else lambda: False, deadline)
    log(f"trial {trial.number} ({run}): " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in values.items()))
    started = time.time()
    try:  # a trial that fails by itself (two values that do not go together, diverged, out of memory) is recorded so
        config = apply_overrides(plan.base, [p.override(values[p.key]) for p in plan.space]
                                 + [f"trainer.monitor={plan.objective}", f"name={plan.base.name}-trial{run}"])
        if plan.folds:
            from tfmodels.verbs.cross_validate import cross_validate

            folds = cross_validate(config, plan.folds, run_dir, callbacks=[reporter])
            score = folds.summary["validation"][plan.objective.removeprefix("val_")]
            trial.set_user_attr("cv_sd", score["sd"])
            result = None
        else:
            result = train(config, run_dir, callbacks=[reporter])
    except DeadlinePassed as stop:
        trial.set_user_attr("interrupted", f"--max-time, after epoch {stop.epoch + 1}")
        log(f"trial {trial.number} stopped at --max-time after epoch {stop.epoch + 1}; the same search command "
            f"resumes it in trials/{run}")
        keras.backend.clear_session()
        return
    except Exception as error:
        trial.set_user_attr("error", " ".join(str(error).split())[:300])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log(f"trial {trial.number} failed: {error}")
        keras.backend.clear_session()
        return
    trial.set_user_attr("seconds", round(time.time() - started, 1))
    write_hparams(run_dir, trial.number, values, plan)
    if result is None:  # cross-validated: the mean over the folds of each fold's kept (best) epoch
        keras.backend.clear_session()
        study.tell(trial, score["mean"])
        log(f"trial {trial.number}: {plan.objective} {score['mean']:.4f} ± {score['sd']:.4f} over {plan.folds} folds")
        return
    best = best_of(history_values(run_dir, plan.objective), plan.direction)
    keras.backend.clear_session()
    if reporter.stopped_epoch is not None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log(f"trial {trial.number} pruned after epoch {reporter.stopped_epoch + 1}: {plan.objective} {best:.4f}")
    else:
        study.tell(trial, best)
        log(f"trial {trial.number}: {plan.objective} {best:.4f} ({result.metrics.get('epochs_trained')} epochs)")
