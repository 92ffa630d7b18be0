"""The callbacks every run gets, and the one Keras lacks: stop on a non-finite loss, naming the step."""

from __future__ import annotations

import csv
import math

import keras

from tfmodels.config import Config
from tfmodels.training.run_dir import RunPaths, read_json


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


def backup_epoch(paths: RunPaths) -> int:
    """The epoch BackupAndRestore resumes at (0 when there is no backup yet); reads only."""
    return int(read_json(paths.backup / "training_metadata.json").get("epoch", 0))


def resume_state(paths: RunPaths, monitor: str) -> tuple[int, float | None]:
    """For a resumed run: the epoch BackupAndRestore resumes at, and the best `monitor` value so far.

    Rows of history.csv from epochs that will be trained again are dropped, so the history has
    one row an epoch whatever crashed when.
    """
    epoch = backup_epoch(paths)
    if not paths.history.is_file():
        return epoch, None
    with open(paths.history, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < epoch]
    with open(paths.history, "w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    values = [float(row[monitor]) for row in rows if row.get(monitor)]
    if not values:
        return epoch, None
    return epoch, (max(values) if _maximise(monitor) else min(values))


def _maximise(monitor: str) -> bool:
    return "acc" in monitor or "f1" in monitor or "auc" in monitor


def standard_callbacks(paths: RunPaths, config: Config, best_so_far: float | None) -> list[keras.callbacks.Callback]:
    """Backup for resuming, best-weights checkpoint, TensorBoard, CSV history, early stopping."""
    trainer, mode = config.trainer, ("max" if _maximise(config.trainer.monitor) else "min")
    callbacks = [
        # "epoch" with double_checkpoint: a crash while writing leaves the previous backup usable.
        keras.callbacks.BackupAndRestore(str(paths.backup), save_freq="epoch", double_checkpoint=True,
                                         delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(paths.best_weights), monitor=trainer.monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best_so_far),
        # update_freq="epoch": an integer that does not divide the steps per epoch drops epoch scalars.
        keras.callbacks.TensorBoard(str(paths.logs), histogram_freq=config.logging.histogram_freq,
                                    update_freq="epoch", write_graph=False),
        keras.callbacks.CSVLogger(str(paths.history), append=True),
    ]
    if trainer.early_stopping_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=trainer.monitor, mode=mode,
                                                       patience=trainer.early_stopping_patience))
    return callbacks
