"""The seam between a hyper-parameter search's pruner and `fit`: a callback that reports the searched
metric after every epoch and stops the run when the search says the trial is clearly worse."""

from __future__ import annotations

from typing import Callable

import keras

from tfmodels.errors import ConfigError


class ReportEveryEpoch(keras.callbacks.Callback):
    """After every epoch: `report(value, epoch)` of `logs[monitor]`; then, if `should_stop()`, ends
    training (the run then finishes as any run stopped early: best weights kept, metrics written)."""

    def __init__(self, monitor: str, report: Callable[[float, int], None], should_stop: Callable[[], bool]):
        super().__init__()
        self.monitor, self.report, self.should_stop = monitor, report, should_stop
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
