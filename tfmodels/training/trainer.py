"""Trains the model a config names, in a run folder, through `model.fit`.

Nothing here knows a particular model or kind of data: the task (`tfmodels.tasks.task_for`)
loads and preprocesses the data and builds the model. Every check of the config and the data
happens before the run folder is made, so a bad input leaves nothing behind.

Under `MultiWorkerMirroredStrategy` the loop of `tfmodels.training.loop` replaces `model.fit`
(which fails there in Keras 3.15), with the same callbacks. Only the chief writes the run folder;
every other worker trains in a temporary folder (a copy of the chief's when resuming, so that all
resume from the same epoch) that is deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from tfmodels.config import Config
from tfmodels.errors import ConfigError, TrainingDivergedError
from tfmodels.hardware import resolve_precision, resolve_xla
from tfmodels.plots import write_training_curves
from tfmodels.tasks import task_for
from tfmodels.training.callbacks import (
    FirstStepLog,
    NonFiniteLossGuard,
    resume_history,
    standard_callbacks,
)
from tfmodels.training.checkpoints import ResumePoint, describe, find_resume_point
from tfmodels.training.loop import evaluate_with_strategy_run, fit_with_strategy_run
from tfmodels.training.optimizers import build_optimizer, scaled_learning_rate
from tfmodels.training.run_dir import (
    FINISHED,
    RunPaths,
    atomic_write_json,
    check_run_dir,
    default_run_dir,
    prepare_run_dir,
    require_finished,
    write_aside,
)
from tfmodels.training.strategy import (
    configure_devices,
    describe_devices,
    is_chief,
    is_multi_worker,
    resolve_strategy,
    strategy_name,
    worker_label,
)
from tfmodels.training.summaries import (
    RUN_LOGS,
    ExamplesPerSecond,
    GradientNorm,
    write_config_text,
    write_hparams,
)


@dataclass
class TrainResult:
    paths: RunPaths
    metrics: dict
    model: keras.Model


def train(config: Config, run_dir: str | os.PathLike | None = None, log: Callable[[str], None] = lambda _: None):
    """Trains `config` in `run_dir` (default `runs/<config.name>`); resumes an unfinished run there.

    Keras's dtype policy is global: the run's precision applies while it trains, and the policy
    before it is put back afterwards (a notebook's next model is not mixed-precision by surprise).
    """
    previous_policy = keras.config.dtype_policy()
    try:
        return _train(config, run_dir, log)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config: Config, run_dir, log: Callable[[str], None]) -> TrainResult:
    started = time.time()
    _check_trainer(config)
    # Devices and the strategy come before any other TensorFlow work: logical devices can only be
    # set before TensorFlow starts, and a multi-worker strategy must exist before the first op.
    configure_devices(config.runtime.num_cpu_devices)
    strategy = resolve_strategy(config.runtime.strategy, config.runtime.connect_timeout)
    multi_worker, chief = is_multi_worker(strategy), is_chief(strategy)
    task = task_for(config)
    task.load()
    if config.init.from_run:
        require_finished(RunPaths(Path(config.init.from_run)))
    run_dir = Path(run_dir or default_run_dir(config))
    resuming = check_run_dir(run_dir, config)  # fail before any work; prepare_run_dir below creates it
    if not chief:  # it resumes when the chief's folder holds a backup from an earlier launch
        resuming = resuming and RunPaths(run_dir).backup.is_dir()
        run_dir = _worker_run_dir(run_dir, resuming, worker_label(strategy))
    task.prepare(run_dir if resuming else None)
    keras.utils.set_random_seed(config.runtime.seed)
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    precision, precision_why = resolve_precision(config.runtime.precision)
    xla, xla_why = resolve_xla(config.runtime.xla, precision, config.trainer.steps_per_execution)
    keras.mixed_precision.set_dtype_policy(precision)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.trainer.batch_size * replicas
    learning_rate = scaled_learning_rate(config.trainer, replicas)
    log(f"devices: {describe_devices()}; strategy: {strategy_name(strategy)} ({worker_label(strategy)}), "
        f"{replicas} replica(s); global batch {global_batch} = {config.trainer.batch_size} per replica x {replicas}; "
        f"learning rate {learning_rate:g} (trainer.lr_scaling: {config.trainer.lr_scaling})")
    log(f"precision {precision} ({precision_why}); xla {xla} ({xla_why}); "
        f"steps per execution {config.trainer.steps_per_execution}")

    # A resumed run starts after the newest undamaged backup; its data continue there, in that epoch's order.
    point = find_resume_point(RunPaths(run_dir).backup) if resuming else ResumePoint()
    if resuming:
        log(describe(point))
    train_ds, eval_ds = task.datasets(global_batch, config.runtime.seed, config.trainer.epochs, point.epoch)
    steps_per_epoch = task.train_examples() // global_batch

    with strategy.scope():
        model = task.build_model()
        if config.init.from_run:
            task.warm_start(model, config.init.from_run)
        task.configure_training(model)
        model.compile(
            optimizer=build_optimizer(config.trainer, steps_per_epoch * config.trainer.epochs, replicas),
            steps_per_execution=config.trainer.steps_per_execution,
            jit_compile=xla == "on",
            **task.compile_args(),
        )

    paths, resumed = prepare_run_dir(run_dir, config)
    log(f"run folder: {paths.root}" + (" (resuming an unfinished run)" if resumed else ""))
    task.save_assets(paths.root)
    data_info = task.data_info()
    atomic_write_json(paths.data_info, {
        **data_info,
        "strategy": strategy_name(strategy),
        "replicas": replicas,
        "global_batch_size": global_batch,
        "lr_scaling": config.trainer.lr_scaling,
        "learning_rate": learning_rate,
        "precision": precision,
        "xla": xla,
    })

    history_values = resume_history(paths, point.epoch, config.trainer.monitor) if resumed else []
    guard = NonFiniteLossGuard()
    fit_started = time.time()
    write_config_text(paths, config, data_info)
    # Callbacks that add values to the epoch's logs come before those that record them (standard_callbacks).
    # The gradient norm is taken outside the replicas: on one machine only.
    gradient_norm = ([GradientNorm(next(iter(eval_ds["validation"].take(1))))]
                     if not multi_worker and eval_ds.get("validation") is not None else [])
    callbacks = [guard, FirstStepLog(log, started), ExamplesPerSecond(global_batch), *gradient_norm,
                 *task.callbacks(global_batch, paths.logs / RUN_LOGS),
                 *standard_callbacks(paths, config, point, history_values)]
    if multi_worker:  # model.fit fails under this strategy in Keras 3.15 (keras-team/keras#20585)
        history = fit_with_strategy_run(model, strategy, train_ds, global_batch, steps_per_epoch,
                                        config.trainer.epochs, callbacks,
                                        validation_data=eval_ds["validation"], verbose=config.logging.verbose,
                                        steps_per_execution=config.trainer.steps_per_execution)
    else:
        history = model.fit(
            train_ds,
            validation_data=eval_ds["validation"],
            epochs=config.trainer.epochs,
            steps_per_epoch=steps_per_epoch,  # train_ds holds every remaining epoch in one stream
            shuffle=False,  # the pipeline orders the examples, by the run's seed and the epoch
            callbacks=callbacks,
            verbose=config.logging.verbose,
        )
    fit_seconds = time.time() - fit_started
    if guard.failure:
        failure = guard.failure
        atomic_write_json(paths.metrics, {"status": "diverged", "failure": failure})
        kept = (f"the best weights so far are in {paths.best_weights}" if paths.best_weights.is_file()
                else "no epoch finished, so no weights were kept")
        raise TrainingDivergedError(
            f"the loss became {failure['loss']} at epoch {failure['epoch']}, step {failure['step']}; "
            "likely causes: a learning rate too high (trainer.learning_rate), float16 overflow "
            f"(runtime.precision), or bad values in the data; {kept}"
        )

    if paths.best_weights.is_file():
        model.load_weights(paths.best_weights)
    metrics = {
        "status": FINISHED,
        "epochs_trained": len(history.epoch),
        "wall_seconds": round(time.time() - started, 2),
        "fit_seconds": round(fit_seconds, 2),
        "examples_per_second": round(len(history.epoch) * steps_per_epoch * global_batch / max(fit_seconds, 1e-9), 1),
    }
    for role, ds in eval_ds.items():
        metrics[role] = (evaluate_with_strategy_run(model, strategy, ds) if multi_worker
                         else {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()})
    task.finish(model, paths.root)
    write_hparams(paths, config, metrics)
    write_training_curves(paths.root)  # training_curves.png: the run at a glance without TensorBoard
    write_aside(paths.model, task.model_for_saving(model).save)
    atomic_write_json(paths.metrics, metrics)  # status "finished": written last
    if chief:
        log(_summary(paths, metrics))
    else:
        shutil.rmtree(paths.root, ignore_errors=True)
    return TrainResult(paths, metrics, model)


def _check_trainer(config: Config) -> None:
    t = config.trainer
    for key, value in (("epochs", t.epochs), ("batch_size", t.batch_size), ("steps_per_execution", t.steps_per_execution)):
        if value < 1:
            raise ConfigError(f"trainer.{key} must be at least 1, got {value}")


def _worker_run_dir(chief_dir: Path, resuming: bool, label: str) -> Path:
    """A non-chief worker's own temporary run folder; a copy of the chief's when the run resumes."""
    root = Path(tempfile.mkdtemp(prefix=f"tfmodels-{label.replace(' ', '-')}-"))
    if resuming:  # the same backup as the chief, so that every worker starts at the same epoch
        shutil.copytree(chief_dir, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs"))
    return root


def _summary(paths: RunPaths, metrics: dict) -> str:
    lines = [f"finished {metrics['epochs_trained']} epochs in {metrics['wall_seconds']:.1f}s"]
    for role in ("validation", "test"):
        if role in metrics:
            values = ", ".join(f"{name} {value:.4f}" for name, value in sorted(metrics[role].items()))
            lines.append(f"{role}: {values}")
    lines.append(f"model: {paths.model}")
    return "\n".join(lines)
