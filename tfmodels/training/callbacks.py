"""The callbacks every run gets, and the one Keras lacks: stop on a non-finite loss, naming the step."""

from __future__ import annotations

import csv
import io
import math

import time

import keras

from tfmodels.config import Config
from tfmodels.training.checkpoints import (
    BestWeights,
    ResumableBackup,
    ResumableEarlyStopping,
    ResumePoint,
)
from tfmodels.training.run_dir import RunPaths, atomic_write_text


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and records where it happened.

    Keras's `TerminateOnNaN` only prints; the trainer reads `failure` to raise an error that
    names the epoch and step and to mark the run folder.
    """

    def __init__(self):
        super().__init__()
        self.failure = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.failure is None:
            self.failure = {"epoch": self._epoch + 1, "step": int(batch) + 1, "loss": str(float(loss))}
            self.model.stop_training = True


class GradualUnfreezing(keras.callbacks.Callback):
    """Trains the head first, then unfreezes one group of layers every `every` epochs, top first.

    `groups` are lists of layers, from the one nearest the head (unfrozen first) to the farthest.
    The optimizer is built for every variable at the start, so that variables that start to train
    later have their slots; the train function is rebuilt whenever the set of trainable variables
    changes. The state follows from the epoch number alone, so a resumed run continues where it was.
    """

    def __init__(self, groups: list[list], every: int = 1):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.groups = groups
        self.every = every
        self.unfrozen = -1

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not optimizer.built:
            for group in self.groups:
                for layer in group:
                    layer.trainable = True
            optimizer.build(self.model.trainable_variables)
        self.unfrozen = -1

    def on_epoch_begin(self, epoch, logs=None):
        unfrozen = min(epoch // self.every, len(self.groups))  # groups[:unfrozen] train this epoch
        if unfrozen == self.unfrozen:
            return
        for i, group in enumerate(self.groups):
            for layer in group:
                layer.trainable = i < unfrozen
        self.unfrozen = unfrozen
        self.model.make_train_function(force=True)


def resume_history(paths: RunPaths, epoch: int, monitor: str) -> list[float]:
    """For a run resumed after `epoch` epochs: the `monitor` values of those epochs, in order.

    Rows of history.csv from epochs that will be trained again (and a row cut short by a kill)
    are dropped, so the history has one row an epoch whatever crashed when.
    """
    if not paths.history.is_file():
        return []
    with open(paths.history, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kept = []
    for row in rows:
        try:
            if int(row["epoch"]) < epoch and None not in row.values():
                kept.append(row)
        except (TypeError, ValueError, KeyError):
            continue  # a half-written line
    atomic_write_text(paths.history, _csv_text(kept))
    values = []
    for row in kept:
        try:
            values.append(float(row[monitor]))
        except (TypeError, ValueError, KeyError):
            pass
    return values


def _csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def best_value(values: list[float], monitor: str) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if _maximise(monitor) else min(finite)


def _maximise(monitor: str) -> bool:
    return "acc" in monitor or "f1" in monitor or "auc" in monitor


def standard_callbacks(paths: RunPaths, config: Config, point: ResumePoint | None = None,
                       history_values: list[float] = ()) -> list[keras.callbacks.Callback]:
    """TensorBoard, CSV history, best weights, early stopping, and last the backup for resuming.

    The backup comes last: when it is committed, everything else of that epoch is already on disk,
    so a resume from it finds the history and the best weights as a run that never stopped had them.
    `point` and `history_values` carry a resumed run's state (`find_resume_point`, `resume_history`).
    """
    trainer, mode = config.trainer, ("max" if _maximise(config.trainer.monitor) else "min")
    callbacks = [
        # update_freq="epoch": an integer that does not divide the steps per epoch drops epoch scalars.
        keras.callbacks.TensorBoard(str(paths.logs), histogram_freq=config.logging.histogram_freq,
                                    update_freq="epoch", write_graph=False,
                                    profile_batch=(2, 4) if config.logging.profile else 0),
        keras.callbacks.CSVLogger(str(paths.history), append=True),
        BestWeights(paths.best_weights, trainer.monitor, mode, best=best_value(list(history_values), trainer.monitor)),
    ]
    if trainer.early_stopping_patience > 0:
        callbacks.append(ResumableEarlyStopping(monitor=trainer.monitor, mode=mode,
                                                patience=trainer.early_stopping_patience,
                                                history_values=history_values))
    callbacks.append(ResumableBackup(paths.backup, point))
    return callbacks


class FirstStepLog(keras.callbacks.Callback):
    """Says once, after the first training step, how long training took to start (tracing, compiling, first batch)."""

    def __init__(self, log, started: float):
        super().__init__()
        self.log, self.started, self.done = log, started, False

    def on_train_batch_end(self, batch, logs=None):
        if not self.done:
            self.done = True
            self.log(f"first training step done, {time.time() - self.started:.1f} s after the run started")
