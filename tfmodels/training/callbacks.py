"""Callbacks Keras lacks: stop on a non-finite loss naming the step, unfreeze layers gradually,
say when the first step is done. (Checkpoints are in `checkpoints.py`, TensorBoard extras in
`summaries.py`.)"""

from __future__ import annotations

import math
import time

import keras


class LossSpike(Exception):
    """Raised out of `fit` by `NonFiniteLossGuard`: the epoch's end never runs, so no backup, best
    weights or history row holds the spoilt epoch."""

    def __init__(self, failure: dict):
        super().__init__(f"the loss became {failure['loss']} at epoch {failure['epoch']}, step {failure['step']}")
        self.failure = failure


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss (or one above `upper_bound`) and records where.

    Keras's `TerminateOnNaN` only prints and lets the epoch end (its backup would hold the spoilt
    weights); this guard raises `LossSpike` at once, and the trainer rolls back (loss-spike
    recovery) or raises an error that names the epoch and step and marks the run folder.
    """

    def __init__(self, upper_bound: float | None = None):
        super().__init__()
        self.failure = None
        self.upper_bound = upper_bound
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.failure is not None:
            return
        loss = float(loss)
        if not math.isfinite(loss) or (self.upper_bound is not None and loss > self.upper_bound):
            self.failure = {"epoch": self._epoch + 1, "step": int(batch) + 1, "loss": str(loss)}
            raise LossSpike(self.failure)


class GradualUnfreezing(keras.callbacks.Callback):
    """Trains the head first, then unfreezes one group of layers every `every` epochs, top first.

    `groups` are lists of layers, from the one nearest the head (unfrozen first) to the farthest.
    The optimizer is built for every variable at the start, so that variables that start to train
    later have their slots. It only sets `trainable`: the training loop (`loop.py`) retraces its step
    when the set of trainable variables changes. The state follows from the epoch number alone, so a
    resumed run continues where it was.
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


class FirstStepLog(keras.callbacks.Callback):
    """Says once, after the first training step, how long training took to start (tracing, compiling, first batch)."""

    def __init__(self, log, started: float):
        super().__init__()
        self.log, self.started, self.done = log, started, False

    def on_train_batch_end(self, batch, logs=None):
        if not self.done:
            self.done = True
            self.log(f"first training step done, {time.time() - self.started:.1f} s after the run started")
