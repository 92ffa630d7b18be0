"""The seam between a hyper-parameter search's pruner and `fit`: a callback that reports the searched
metric after every epoch, stops the run when the search says the trial is clearly worse, and stops it
when the search's time is up."""

from __future__ import annotations

import time
from typing import Callable

import keras

from tfmodels.errors import ConfigError


class DeadlinePassed(Exception):
    """Raised at the end of an epoch after the deadline: the run folder is left unfinished, its backup of
    that epoch committed (this callback comes after the run's own), so training it again resumes there."""

    def __init__(self, epoch: int):
        super().__init__(f"the deadline passed; stopped after epoch {epoch + 1}")
        self.epoch = epoch


class ReportEveryEpoch(keras.callbacks.Callback):
    """After every epoch: `report(value, epoch)` of `logs[monitor]`; then, if `should_stop()`, ends
    training (the run then finishes as any run stopped early: best weights kept, metrics written);
    otherwise, if `deadline` (a `time.time()`) has passed and epochs remain, raises `DeadlinePassed`."""

    def __init__(self, monitor: str, report: Callable[[float, int], None], should_stop: Callable[[], bool],
                 deadline: float | None = None):
        super().__init__()
        self.monitor, self.report, self.should_stop, self.deadline = monitor, report, should_stop, deadline
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ConfigError(f"--objective {self.monitor}: the run does not log it; it logs "
                              f"{', '.join(sorted(k for k in logs if k.startswith('val_')))}")
        self.report(float(logs[self.monitor]), epoch)
        if self.should_stop():
            self.stopped_epoch = epoch
            self.model.stop_training = True
        elif (self.deadline is not None and time.time() >= self.deadline
              and epoch + 1 < self.params.get("epochs", epoch + 1) and not self.model.stop_training):
            raise DeadlinePassed(epoch)
