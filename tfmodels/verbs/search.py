"""`tfmodels search`: a hyper-parameter search that a user can leave running.

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

import csv
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tfmodels.config import Config, apply_overrides, config_to_dict, dump_config, load_config
from tfmodels.config.kinds import kind_rules
from tfmodels.errors import ConfigError, DataError, RunDirError
from tfmodels.files import atomic_write_json, atomic_write_text, read_json
from tfmodels.verbs.search_space import Parameter, grid_size, load_space

OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize", "val_masked_accuracy": "maximize"}
SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("median", "halving", "none")


@dataclass
class SearchPlan:
    """What one search asks for, checked before any trial runs."""

    config_path: str
    overrides: list[str]
    base: Config
    space: list[Parameter]
    study_dir: Path
    trials: int = 20
    max_seconds: float | None = None
    sampler: str = "tpe"
    objective: str = "val_accuracy"
    pruner: str = "median"
    storage: str | None = None  # None: sqlite in the study folder
    notes: list[str] = field(default_factory=list)  # what the plan changed, said once

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.study_dir / 'study.db').resolve()}"


# --- 1. The plan, checked ------------------------------------------------------------------------------

def parse_duration(text: str | None) -> float | None:
    """'30m', '2h', '90s', '45' (seconds) -> seconds; None -> None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--max-time {text!r}: give a positive duration such as 90s, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def logged_objectives(config: Config) -> tuple[str, ...]:
    """The validation metrics a run of `config` logs every epoch (what a search may optimize): its kind's."""
    return kind_rules(config.model.type).objectives


def make_plan(config_path: str, space_path: str, overrides: list[str] = (), trials: int = 20,
              max_time: str | None = None, sampler: str = "tpe", objective: str = "val_accuracy",
              study_dir: str | os.PathLike | None = None, pruner: str = "median", storage: str | None = None) -> SearchPlan:
    base = apply_overrides(load_config(config_path), list(overrides))
    if base.trainer.max_steps is not None:
        raise ConfigError(f"'{config_path}' trains by steps (trainer.max_steps); a search prunes and compares "
                          "epochs: search a config trained by epochs")
    space = load_space(space_path, base)
    if objective not in logged_objectives(base):
        raise ConfigError(f"--objective {objective}: a {base.model.type} run does not log it; it logs "
                          f"{', '.join(logged_objectives(base))}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r}: give one of {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner {pruner!r}: give one of {', '.join(PRUNERS)}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    plan = SearchPlan(str(config_path), list(overrides), base, space,
                      Path(study_dir) if study_dir else Path("studies") / base.name, trials,
                      parse_duration(max_time), sampler, objective, pruner, storage)
    if sampler == "grid":
        size = grid_size(space)
        if size is None:
            floats = [p.key for p in space if p.grid is None]
            raise ConfigError(f"--sampler grid: {', '.join(floats)} is a float range, which a grid cannot list; "
                              "give a list of choices, or use --sampler tpe or random")
        if size > trials:
            raise ConfigError(f"--sampler grid: the grid has {size} points and --trials is {trials}; give "
                              f"--trials {size}, fewer choices, or --sampler tpe")
        if size < trials:
            plan.notes.append(f"the grid has {size} points: {size} trials, not {trials}")
            plan.trials = size
    return plan


def study_record(plan: SearchPlan) -> dict:
    return {"config": config_to_dict(plan.base), "config_path": plan.config_path, "overrides": plan.overrides,
            "space": [p.__dict__ | {"choices": list(p.choices)} for p in plan.space],
            "objective": plan.objective, "sampler": plan.sampler, "pruner": plan.pruner, "trials": plan.trials}


def check_study_dir(plan: SearchPlan) -> bool:
    """Whether the study folder holds this search already (a resume); refuses one made for another."""
    record_path = plan.study_dir / "study.json"
    if not record_path.is_file():
        if plan.study_dir.exists() and any(plan.study_dir.iterdir()):
            raise RunDirError(f"--study-dir '{plan.study_dir}' holds files but no study.json: not a study folder; "
                              "give an empty or new folder")
        return False
    old, new = read_json(record_path), json.loads(json.dumps(study_record(plan)))
    for key in ("config", "space", "objective", "sampler"):
        if old.get(key) != new[key]:
            what = differences(old.get(key), new[key]) if key == "config" else [f"{key}: {old.get(key)!r} there"]
            raise RunDirError(f"study folder '{plan.study_dir}' was made for another search "
                              f"({'; '.join(what[:3])}); give another --study-dir, or the same config and space")
    return True


def differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return [] if a == b else [f"{prefix}: {a!r} there, {b!r} here"]


# --- 2. The study: Optuna's store, sampler and pruner ------------------------------------------------

def open_study(plan: SearchPlan, worker: int = 0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = plan.base.runtime.seed + worker  # workers sample apart
    if plan.sampler == "grid":
        sampler = optuna.samplers.GridSampler({p.key: list(p.grid) for p in plan.space}, seed=seed)
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


@contextmanager
def file_lock(path: Path, blocking: bool = True):
    """`flock` on `path`: yields True when held (False when `blocking=False` and another process holds it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
            run = t.user_attrs.get("run")  # None: it died before it was given a folder (nothing ran)
            study._storage.set_trial_user_attr(t._trial_id, "stale", True)
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            if run is not None:
                study.enqueue_trial(t.params, user_attrs={"run": run, "retry_of": t.number})
                why = "stopped at --max-time" if t.user_attrs.get("interrupted") else "died with its process"
                log(f"trial {t.number} {why}: queued again, to resume in trials/{run}")


def counted(study) -> tuple[int, int, int]:
    """(ended: complete, pruned or failed by itself; running; waiting)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    ended = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or
                (t.state == TrialState.FAIL and not t.user_attrs.get("stale")) for t in trials)
    return (ended, sum(t.state == TrialState.RUNNING for t in trials),
            sum(t.state == TrialState.WAITING for t in trials))


# --- 3. One worker's loop: ask, train, tell ------------------------------------------------------------

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
    reporter = ReportEveryEpoch(plan.objective, trial.report, trial.should_prune if plan.pruner != "none" else lambda: False,
                                deadline)
    log(f"trial {trial.number} ({run}): " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in values.items()))
    started = time.time()
    try:  # a trial that fails by itself (two values that do not go together, diverged, out of memory) is recorded so
        config = apply_overrides(plan.base, [p.override(values[p.key]) for p in plan.space]
                                 + [f"trainer.monitor={plan.objective}", f"name={plan.base.name}-trial{run}"])
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
    best = best_of(history_values(run_dir, plan.objective), plan.direction)
    keras.backend.clear_session()
    if reporter.stopped_epoch is not None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log(f"trial {trial.number} pruned after epoch {reporter.stopped_epoch + 1}: {plan.objective} {best:.4f}")
    else:
        study.tell(trial, best)
        log(f"trial {trial.number}: {plan.objective} {best:.4f} ({result.metrics.get('epochs_trained')} epochs)")


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


# --- 4. The search: workers, then the report ------------------------------------------------------------

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


def report_rows(plan: SearchPlan) -> tuple[list[dict], dict | None]:
    from optuna.trial import TrialState

    study = open_study(plan)
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("stale"):
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


def decoded(value, p: Parameter):
    if p.kind == "choice" and isinstance(value, str) and value not in p.choices:
        return json.loads(value)  # a list choice, stored as JSON text
    return value


def table(rows: list[dict], plan: SearchPlan) -> str:
    keys = [p.key for p in plan.space]
    head = ["trial", "state", plan.objective, *keys, "seconds"]
    lines = ["  ".join(head)]
    for r in rows:
        cells = [str(r["trial"]), r["state"], "" if math.isnan(r[plan.objective]) else f"{r[plan.objective]:.4f}"]
        cells += [f"{r.get(k):.4g}" if isinstance(r.get(k), float) else str(r.get(k)) for k in keys]
        lines.append("  ".join([*cells, str(r["seconds"])]))
    return "\n".join(lines)
