"""`tfmodels train`: trains the model a config names, in a run folder.

Nothing here knows a particular model or kind of data: the task (`tfmodels.tasks.task_for`)
loads and preprocesses the data and builds the model; `tfmodels.training.loop.fit` is the one
seam to Keras (`model.fit`, or a loop over `strategy.run` where fit fails). Every check of the
config and the data happens before the run folder is made, so a bad input leaves nothing behind.

Only the chief writes the run folder; every other worker of a multi-worker run trains in a
temporary folder (a copy of the chief's when resuming, so that all resume from the same epoch)
that is deleted at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from tfmodels import runtime
from tfmodels.config import Config, dump_config, flat_dict
from tfmodels.errors import TrainingDivergedError
from tfmodels.files import atomic_write_json, write_aside
from tfmodels.run_folder import (
    FINISHED,
    RunLock,
    RunPaths,
    check_run_dir,
    choose_run_dir,
    prepare_run_dir,
    remove_finished_run,
    require_finished,
    write_training_curves,
)
from tfmodels.saving import load_keras_model
from tfmodels.tasks import task_for
from tfmodels.training import loop
from tfmodels.training.accumulation import AccumulatingStep, micro_batches
from tfmodels.training.callbacks import (
    FirstStepLog,
    LossSpike,
    NonFiniteLossGuard,
    RunProgress,
    StepAxisTensorBoard,
    progress_verbosity,
)
from tfmodels.training.checkpoints import BestWeights, ResumableBackup, ResumableEarlyStopping, load_best_weights
from tfmodels.training.distillation import Distillation
from tfmodels.training.optimizers import build_optimizer, scaled_learning_rate
from tfmodels.training.resume import ResumeState, describe, monitor_mode, resume_state
from tfmodels.training.summaries import ExamplesPerSecond, GradientNorm, write_config_text, write_hparams
from tfmodels.transforms.pruning import MagnitudePruning, prune_to_target


@dataclass
class TrainResult:
    paths: RunPaths
    metrics: dict
    model: keras.Model


def train(config: Config, run_dir: str | os.PathLike | None = None, log: Callable[[str], None] = lambda _: None,
          callbacks: list[keras.callbacks.Callback] = (), overwrite: bool = False) -> TrainResult:
    """Trains `config` in `run_dir`; resumes an unfinished run there.

    Without `run_dir`: `runs/<config.name>`, or, once that holds a finished run, a new folder named by
    the time (`run_folder.choose_run_dir`). A `run_dir` that holds a finished run is refused unless
    `overwrite` (its files are deleted first, while the folder is held).

    `callbacks` run after the run's own (TensorBoard, history, checkpoints), in the order given.
    Keras's dtype policy is global: the run's precision applies while it trains, and the policy
    before it is put back afterwards (a notebook's next model is not mixed-precision by surprise).
    """
    previous_policy = keras.config.dtype_policy()
    try:
        config = config.validate()
        if run_dir is None:
            run_dir, why = choose_run_dir(config)
            if why:
                log(why)
        return _train(config, run_dir, log, list(callbacks), overwrite)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _locked(config: Config, run_dir, strategy):
    """The chief holds the run folder while it trains (a second `train` of it is refused); the other
    workers of a multi-worker run write only in folders of their own."""
    return RunLock(Path(run_dir)) if runtime.is_chief(strategy) else contextlib.nullcontext()


def _train(config: Config, run_dir, log: Callable[[str], None], extra_callbacks: list, overwrite: bool) -> TrainResult:
    started = time.time()

    # --- 1. Runtime: devices and the strategy come before any other TensorFlow work -----------------
    # (logical devices can only be set before TensorFlow starts; a multi-worker strategy must exist
    # before the first op).
    runtime.configure_devices(config.runtime.num_cpu_devices)
    strategy = runtime.resolve_strategy(config.runtime.strategy, config.runtime.connect_timeout)
    chief = runtime.is_chief(strategy)
    with _locked(config, run_dir, strategy):
        if overwrite and chief:
            remove_finished_run(Path(run_dir), log)
        return _train_holding_the_folder(config, run_dir, log, extra_callbacks, started, strategy, chief)


@dataclass
class Numerics:
    """How the run computes: precision, XLA, replicas and the batch and learning rate they imply."""

    precision: str
    xla: str
    replicas: int
    global_batch: int
    learning_rate: float
    steps_per_execution: int


@dataclass
class Attempt:
    """What one call of fit needs that a rollback changes: where the data resume, the rate's scale."""

    state: ResumeState
    train_ds: object
    eval_ds: dict
    rate_scale: float = 1.0


def _train_holding_the_folder(config: Config, run_dir, log, extra_callbacks: list, started: float, strategy,
                              chief: bool) -> TrainResult:
    task = task_for(config)
    paths, resuming, data, teacher = load_and_check_data(task, config, run_dir, strategy)
    numerics = set_numerics(config, strategy, log)
    epochs, steps_per_epoch = loop.training_length(config.trainer, data.train_examples, numerics.global_batch)
    attempt = input_pipelines(task, config, data, paths, resuming, numerics, epochs, log)
    resumed_after_epoch = attempt.state.point.epoch
    model, trained = build_model(task, config, data, teacher, strategy, log)
    compile_model(trained, task, config, numerics, steps_per_epoch * epochs, strategy)
    paths = write_run_start(task, config, data, paths, resuming, numerics, strategy, model, log)
    history, attempt, recoveries, fit_seconds = fit_with_recovery(
        task, config, data, paths, trained, strategy, numerics, attempt, epochs, steps_per_epoch, started,
        extra_callbacks, log)
    metrics = finish_run(task, config, data, paths, model, trained, strategy, history, attempt, recoveries, numerics,
                         steps_per_epoch, started, fit_seconds, resumed_after_epoch)
    if chief:
        log(_summary(paths, metrics, by_steps=bool(config.trainer.max_steps)))
    else:
        shutil.rmtree(paths.root, ignore_errors=True)
    return TrainResult(paths, metrics, model)


# --- the steps, in their order -------------------------------------------------------------------------

def load_and_check_data(task, config: Config, run_dir, strategy):
    """Reads and checks the data before the run folder exists, then prepares it (a resumed run's
    preprocessing is read back); the teacher is checked against this run's classes and inputs."""
    splits = task.load()
    if config.init.from_run:
        require_finished(RunPaths(config.init.from_run))
    paths, resuming = _run_folder(config, run_dir, strategy)
    data = task.prepare(splits, paths if resuming else None)
    return paths, resuming, data, task.teacher(data)


def set_numerics(config: Config, strategy, log) -> Numerics:
    """Seed, determinism, precision (Keras's global policy), XLA, the global batch and learning rate."""
    t = config.trainer
    keras.utils.set_random_seed(config.runtime.seed)
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    runtime.check_static_shapes(config.data.batch_by_length)
    precision, precision_why = runtime.resolve_precision(config.runtime.precision)
    replicas = strategy.num_replicas_in_sync
    xla, xla_why = runtime.resolve_xla(config.runtime.xla, precision, t.steps_per_execution,
                                      varying_shapes=config.data.batch_by_length, replicas=replicas)
    keras.mixed_precision.set_dtype_policy(precision)
    global_batch = t.batch_size * replicas
    learning_rate = scaled_learning_rate(t, replicas)
    log(f"devices: {runtime.describe_devices()}; strategy: {runtime.strategy_name(strategy)} "
        f"({runtime.worker_label(strategy)}), {replicas} replica(s); global batch {global_batch} = "
        f"{t.batch_size} per replica x {replicas}; learning rate {learning_rate:g} (trainer.lr_scaling: {t.lr_scaling})")
    steps_per_execution, spe_why = t.steps_per_execution, ""
    if replicas > 1 and steps_per_execution > 1:
        # Keras 3.15's multi-step loop over a distributed dataset fails ("You must feed a value for
        # placeholder tensor ..."); and it turns XLA off under a strategy, where several steps paid.
        steps_per_execution, spe_why = 1, f" (trainer.steps_per_execution={t.steps_per_execution} needs one replica)"
    if t.gradient_accumulation_steps > 1:
        log(f"gradient accumulation: an update every {t.gradient_accumulation_steps} micro-batches of "
            f"{global_batch // t.gradient_accumulation_steps} (trainer.gradient_accumulation_steps)")
    log(f"precision {precision} ({precision_why}); xla {xla} ({xla_why}); steps per execution {steps_per_execution}"
        f"{spe_why}")
    return Numerics(precision, xla, replicas, global_batch, learning_rate, steps_per_execution)


def input_pipelines(task, config: Config, data, paths: RunPaths, resuming: bool, numerics: Numerics, epochs: int,
                    log) -> Attempt:
    """The training and evaluation batches; a resumed run's continue after its backup, in that epoch's order."""
    state = resume_state(paths.backup, paths.history, config.trainer.monitor, resuming)
    if resuming:
        log(describe(state.point, config.trainer.eval_interval if config.trainer.max_steps else None))
    train_ds, eval_ds = task.datasets(data, numerics.global_batch, config.runtime.seed, epochs, state.point.epoch)
    return Attempt(state, train_ds, eval_ds)


def build_model(task, config: Config, data, teacher, strategy, log):
    """(the model the run trains and saves, what fit trains) in the strategy's scope: with a teacher,
    the second wraps the first (the loss adds the teacher's soft targets)."""
    with strategy.scope():
        model = task.build_model(data)
        if config.init.from_run:
            task.warm_start(model, RunPaths(config.init.from_run))
        task.configure_training(model)
        trained = model
        if teacher is not None:
            d = config.trainer.distill
            trained = Distillation(model, load_keras_model(teacher.model), d.temperature, d.alpha)
            log(f"distilling from {teacher.root} (temperature {d.temperature:g}, alpha {d.alpha:g}: "
                f"{d.alpha:.0%} of the loss is the teacher's)")
    return model, trained


def compile_model(trained, task, config: Config, numerics: Numerics, total_steps: int, strategy,
                  rate_scale: float = 1.0) -> None:
    """The optimizer (its learning rate x `rate_scale` after a rollback), the task's loss and metrics."""
    t = config.trainer
    if rate_scale != 1.0:
        t = dataclasses.replace(t, learning_rate=t.learning_rate * rate_scale)
    with strategy.scope():
        trained.compile(optimizer=build_optimizer(t, total_steps, numerics.replicas),
                        steps_per_execution=numerics.steps_per_execution, jit_compile=numerics.xla == "on",
                        **task.compile_args())
        if t.gradient_accumulation_steps > 1 or (task.varying_loss_weight and numerics.replicas > 1):
            # Several replicas each dividing by their own count of weighted tokens would make the update a mean
            # of their means; the accumulating step (k = 1 is one micro-batch) divides by all replicas' count.
            AccumulatingStep(trained, t.gradient_accumulation_steps)


def write_run_start(task, config: Config, data, paths: RunPaths, resuming: bool, numerics: Numerics, strategy,
                    model, log) -> RunPaths:
    """From here on, files are written: the run folder, the task's assets, data.json, the config's text."""
    paths, _ = prepare_run_dir(paths.root, config)
    log(f"run folder: {paths.root}" + (" (resuming an unfinished run)" if resuming else ""))
    task.save_assets(data, paths, model)
    data_info = task.data_info(data)
    t = config.trainer
    atomic_write_json(paths.data_info, {
        **data_info, "strategy": runtime.strategy_name(strategy), "replicas": numerics.replicas,
        "global_batch_size": numerics.global_batch, "lr_scaling": t.lr_scaling,
        "learning_rate": numerics.learning_rate, "precision": numerics.precision, "xla": numerics.xla})
    write_config_text(paths.run_logs, dump_config(config), data_info)
    return paths


def make_callbacks(task, config: Config, data, paths: RunPaths, trained, strategy, numerics: Numerics,
                   attempt: Attempt, epochs: int, steps_per_epoch: int, started: float, extra_callbacks: list, log):
    """This attempt's callbacks, made anew for each: after a rollback, the best value, the early-stopping
    history and the backup start from the backup rolled back to. Those that add values to the epoch's
    logs come before those that record them; the gradient norm is taken outside the replicas, so on
    one machine only."""
    t = config.trainer
    validation = attempt.eval_ds.get("validation")
    gradient_norm = ([GradientNorm(next(iter(validation.take(1))))]
                     if validation is not None and not runtime.is_multi_worker(strategy) else [])
    pruning = t.pruning
    pruner = ([MagnitudePruning(pruning.target_sparsity, pruning.begin_step,
                                pruning.end_step or (3 * steps_per_epoch * epochs) // 4, pruning.update_every,
                                paths.run_logs)] if pruning.target_sparsity else [])
    guard = NonFiniteLossGuard(t.recovery.loss_upper_bound)
    k = t.gradient_accumulation_steps  # fit's steps are micro-batches; the rest counts updates
    progress = RunProgress(epochs, steps_per_epoch, by_steps=bool(t.max_steps), micro_batches=k,
                           verbose=progress_verbosity(config.logging.verbose) if runtime.is_chief(strategy) else 0)
    return [guard, progress, FirstStepLog(log, started), ExamplesPerSecond(numerics.global_batch // k), *gradient_norm,
            *pruner,
            *task.callbacks(trained, data, numerics.global_batch, paths.run_logs),
            *run_callbacks(paths, config, attempt.state, steps_per_epoch), *extra_callbacks]


def fit_with_recovery(task, config: Config, data, paths: RunPaths, trained, strategy, numerics: Numerics,
                      attempt: Attempt, epochs: int, steps_per_epoch: int, started: float, extra_callbacks: list, log):
    """Fits; after a loss spike, while trainer.recovery allows, rolls back to the newest good backup (or
    the start) with a lower learning rate. Returns (history, the last attempt, recoveries, seconds)."""
    t = config.trainer
    recovery, recoveries = t.recovery, []
    initial_weights = trained.get_weights() if recovery.max_trials else None
    fit_started = time.time()
    while True:
        callbacks = make_callbacks(task, config, data, paths, trained, strategy, numerics, attempt, epochs,
                                   steps_per_epoch, started, extra_callbacks, log)
        try:
            k = t.gradient_accumulation_steps
            history = loop.fit(trained, strategy, micro_batches(attempt.train_ds, numerics.global_batch, k),
                               global_batch=numerics.global_batch // k,
                               steps_per_epoch=steps_per_epoch * k, epochs=epochs, callbacks=callbacks,
                               validation_data=attempt.eval_ds.get("validation"),
                               verbose=progress_verbosity(config.logging.verbose),
                               steps_per_execution=numerics.steps_per_execution)
            return history, attempt, recoveries, time.time() - fit_started
        except LossSpike as spike:
            if len(recoveries) >= recovery.max_trials:
                _diverged(paths, spike.failure, recoveries)
            state = resume_state(paths.backup, paths.history, t.monitor, resuming=True)
            rate_scale = attempt.rate_scale * recovery.lr_factor
            rate = numerics.learning_rate * rate_scale
            recoveries.append({**spike.failure, "rolled_back_to_epoch": state.point.epoch, "learning_rate": rate})
            after = (f"step {state.point.epoch * t.eval_interval:,}" if t.max_steps else f"epoch {state.point.epoch}")
            log(f"loss spike: {spike}; rolling back to "
                f"{f'the backup after {after}' if state.point.weights else 'the start'} with the "
                f"learning rate x{rate_scale:g} ({rate:g}); recovery {len(recoveries)} of "
                f"{recovery.max_trials} (trainer.recovery.max_trials)")
            if state.point.weights is None:
                trained.set_weights(initial_weights)
            train_ds, eval_ds = task.datasets(data, numerics.global_batch, config.runtime.seed, epochs,
                                              state.point.epoch)
            attempt = Attempt(state, train_ds, eval_ds, rate_scale)
            compile_model(trained, task, config, numerics, steps_per_epoch * epochs, strategy, rate_scale)


def count_weights(variables) -> int:
    """The number of numbers in `variables` (random-number states left out)."""
    return int(sum(math.prod(v.shape) for v in variables if "seed_generator" not in v.path))


def finish_run(task, config: Config, data, paths: RunPaths, model, trained, strategy, history, attempt: Attempt,
               recoveries: list, numerics: Numerics, steps_per_epoch: int, started: float, fit_seconds: float,
               resumed_after_epoch: int) -> dict:
    """The best weights evaluated, pruned to the target, and everything the run leaves: the task's files,
    HParams, the curves, model.keras, and metrics.json last (its status "finished" says the rest is there)."""
    t = config.trainer
    if paths.best_weights.is_file():
        load_best_weights(trained, paths.best_weights)
    sparsity = prune_to_target(model, t.pruning.target_sparsity) if t.pruning.target_sparsity else None
    # A resumed run's History holds only this process's epochs; the run's count is the last epoch reached.
    epochs_trained = history.epoch[-1] + 1 if history.epoch else attempt.state.point.epoch
    metrics = {"status": FINISHED, "epochs_trained": epochs_trained, "steps_trained": epochs_trained * steps_per_epoch,
               **({"resumed_after_epoch": resumed_after_epoch} if resumed_after_epoch else {}),
               **({"recoveries": recoveries} if recoveries else {}),
               "wall_seconds": round(time.time() - started, 2),
               "fit_seconds": round(fit_seconds, 2),
               "examples_per_second": round(len(history.epoch) * steps_per_epoch * numerics.global_batch
                                            / max(fit_seconds, 1e-9), 1),
               "weights": {"total": count_weights(model.weights), "trained": count_weights(model.trainable_weights)}}
    for role, ds in attempt.eval_ds.items():
        metrics[role] = {**loop.evaluate(trained, strategy, ds), **task.split_metrics(model, data, role)}
    task.finish(model, paths)
    write_hparams(paths.run_logs, flat_dict(config), paths.name, metrics)
    write_training_curves(paths)  # the run at a glance without TensorBoard
    write_aside(paths.model, task.model_for_saving(model).save)
    if sparsity is not None:
        metrics["sparsity"] = _sparsity_record(model, t.pruning.target_sparsity, sparsity)
    atomic_write_json(paths.metrics, metrics)  # status "finished": written last
    return metrics


def _sparsity_record(model, target: float, kernels: dict) -> dict:
    """The kept model, exactly at the target (the best epoch's weights, pruned once more): its weights'
    size, alone (model.keras also holds Adam's moments) and compressed."""
    import gzip

    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "model.weights.h5"
        model.save_weights(weights)
        return {"target": target, "kernels": kernels, "weights_bytes": weights.stat().st_size,
                "weights_gzip_bytes": len(gzip.compress(weights.read_bytes()))}


def _run_folder(config: Config, run_dir, strategy) -> tuple[RunPaths, bool]:
    """(the folder this process trains in, whether it resumes); checks only, writes nothing there."""
    root = Path(run_dir)
    resuming = check_run_dir(root, config)
    if runtime.is_chief(strategy):
        return RunPaths(root), resuming
    # A non-chief worker resumes when the chief's folder holds a backup from an earlier launch.
    resuming = resuming and RunPaths(root).backup.is_dir()
    own = Path(tempfile.mkdtemp(prefix=f"tfmodels-{runtime.worker_label(strategy).replace(' ', '-')}-"))
    if resuming:  # the same backup as the chief, so that every worker starts at the same epoch
        shutil.copytree(root, own, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs"))
    return RunPaths(own), resuming


def run_callbacks(paths: RunPaths, config: Config, state: ResumeState,
                  steps_per_epoch: int = 1) -> list[keras.callbacks.Callback]:
    """TensorBoard, CSV history, best weights, early stopping, and last the backup for resuming.

    A run trained by steps logs its scalars at the optimizer step, not at the evaluation's number.

    The backup comes last: when it is committed, everything else of that epoch is already on disk,
    so a resume from it finds the history and the best weights as a run that never stopped had them.
    """
    t, mode = config.trainer, monitor_mode(config.trainer.monitor)
    # update_freq="epoch": an integer that does not divide the steps per epoch drops epoch scalars.
    board = dict(log_dir=str(paths.logs), update_freq="epoch", write_graph=False,
                 profile_batch=(2, 4) if config.logging.profile else 0)
    callbacks = [
        StepAxisTensorBoard(steps_per_epoch, histogram_freq=config.logging.histogram_freq * steps_per_epoch, **board)
        if t.max_steps else keras.callbacks.TensorBoard(histogram_freq=config.logging.histogram_freq, **board),
        keras.callbacks.CSVLogger(str(paths.history), append=True),
        BestWeights(paths.best_weights, t.monitor, mode, best=state.best(t.monitor)),
    ]
    if t.early_stopping_patience > 0:
        callbacks.append(ResumableEarlyStopping(monitor=t.monitor, mode=mode, patience=t.early_stopping_patience,
                                                history_values=state.history_values))
    callbacks.append(ResumableBackup(paths.backup, state.point))
    return callbacks


def _diverged(paths: RunPaths, failure: dict, recoveries: list) -> None:
    atomic_write_json(paths.metrics, {"status": "diverged", "failure": failure, "recoveries": recoveries})
    kept = (f"the best weights so far are in {paths.best_weights}" if paths.best_weights.is_file()
            else "no epoch finished, so no weights were kept")
    after = f" after {len(recoveries)} rollback(s) (trainer.recovery)" if recoveries else ""
    raise TrainingDivergedError(
        f"the loss became {failure['loss']} at epoch {failure['epoch']}, step {failure['step']}{after}; "
        "likely causes: a learning rate too high (trainer.learning_rate), float16 overflow "
        f"(runtime.precision), or bad values in the data; {kept}"
    )


def _summary(paths: RunPaths, metrics: dict, by_steps: bool = False) -> str:
    done = (f"{metrics['steps_trained']} steps ({metrics['epochs_trained']} evaluations)" if by_steps
            else f"{metrics['epochs_trained']} epochs")
    lines = [f"finished {done} in {metrics['wall_seconds']:.1f}s"]
    for role in ("validation", "test"):
        if role in metrics:
            values = ", ".join(f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
                               for name, value in sorted(metrics[role].items()) if isinstance(value, (int, float)))
            lines.append(f"{role}: {values}")
    lines.append(f"model: {paths.model}")
    return "\n".join(lines)
