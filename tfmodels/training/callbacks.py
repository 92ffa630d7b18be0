"""Callbacks Keras lacks: stop on a non-finite loss naming the step, unfreeze layers gradually,
say when the first step is done, show progress in the run's own units with the whole run's ETA.
(Checkpoints are in `checkpoints.py`, TensorBoard extras in `summaries.py`.)"""

from __future__ import annotations

import math
import sys
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


def progress_verbosity(setting: int | str) -> int:
    """`logging.verbose`: "auto" is Keras's progress bar (1) on a terminal or in a notebook, and one line
    an epoch (2) when the output goes to a file or a pipe (CI, `> log.txt`), where a bar's redraws would
    be thousands of lines."""
    if setting != "auto":
        return int(setting)
    interactive = "ipykernel" in sys.modules or (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
    return 1 if interactive else 2


def duration(seconds: float) -> str:
    """`45s`, `3m05s`, `1h02m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class RunProgress(keras.callbacks.ProgbarLogger):
    """Progress in the run's units: epochs, or optimizer steps for a run trained by steps, with the whole
    run's ETA after each epoch (evaluation).

    A `ProgbarLogger`, so that `fit` adds none of its own. `verbose=1`: a header a period, then Keras's
    progress bar (with its ETA for the period); `verbose=2`: one line a period, its metrics and the run's
    ETA; 0: nothing. The ETA is the mean time of the periods this process has run (compilation
    included: an overestimate early on) times the periods left. With gradient accumulation, steps are
    updates and the bar counts the `micro_batches` of each.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, by_steps: bool, verbose: int, print_fn=print,
                 micro_batches: int = 1):
        super().__init__()
        self.total, self.steps_per_epoch, self.by_steps = epochs, steps_per_epoch, by_steps
        self.micro_batches = micro_batches
        self.wanted, self.print_fn = verbose, print_fn
        self.bar, self.first_epoch, self.started, self.epoch_started = None, None, 0.0, 0.0

    def set_params(self, params):
        super().set_params(params)
        self.verbose = self.wanted  # ours, not fit's

    def on_train_begin(self, logs=None):
        self.started, self.first_epoch = time.time(), None

    # Validation inside fit and predict calls stay silent (fit's own logger does the same).
    def on_test_begin(self, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def period(self, epoch: int) -> str:
        """`epoch 3/8`, or `steps 2,001-3,000/8,000` for a run trained by steps."""
        if not self.by_steps:
            return f"epoch {epoch + 1}/{self.total}"
        first, last = epoch * self.steps_per_epoch + 1, (epoch + 1) * self.steps_per_epoch
        return f"steps {first:,}-{last:,}/{self.total * self.steps_per_epoch:,}"

    def eta(self, epochs_done: int) -> str:
        """`run: 1m05s so far, about 2m10s left` after `epochs_done` periods of the whole run."""
        here = epochs_done - (self.first_epoch or 0)
        elapsed = time.time() - self.started
        if here <= 0:
            return f"run: {duration(elapsed)} so far"
        left = (self.total - epochs_done) * elapsed / here
        return f"run: {duration(elapsed)} so far, " + (f"about {duration(left)} left" if left > 0 else "done")

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch  # a resumed run starts after its backup's epoch
        self.epoch_started = time.time()
        if self.verbose == 1:
            self.print_fn(self.period(epoch) + ("" if epoch == self.first_epoch else f" ({self.eta(epoch)})"))
            self.bar = keras.utils.Progbar(self.steps_per_epoch * self.micro_batches, verbose=1,
                                           unit_name="step" if self.micro_batches == 1 else "micro-batch")

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose == 1 and self.bar is not None:
            self.bar.update(batch + 1, list((logs or {}).items()), finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.verbose == 1 and self.bar is not None:
            self.bar.update(self.steps_per_epoch * self.micro_batches, list(logs.items()), finalize=True)
            if epoch + 1 == self.total:
                self.print_fn(self.eta(epoch + 1))
        elif self.verbose == 2:
            seconds = time.time() - self.epoch_started
            order = sorted(logs, key=lambda k: (k.startswith("val_"), k.removeprefix("val_") != "loss", k))
            values = " - ".join(f"{k}: {logs[k]:.4g}" for k in order if isinstance(logs[k], (int, float)))
            self.print_fn(f"{self.period(epoch)} - {duration(seconds)} "
                          f"({1000 * seconds / max(self.steps_per_epoch, 1):.0f} ms/step) - {values} | "
                          f"{self.eta(epoch + 1)}")


class StepAxisTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard whose epoch scalars sit at the optimizer step (a run trained by steps: its
    "epochs" are evaluation periods, so steps are the axis a reader compares runs on)."""

    def __init__(self, steps_per_epoch: int, **kwargs):
        super().__init__(**kwargs)
        self.steps_per_epoch = steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end((epoch + 1) * self.steps_per_epoch, logs)
