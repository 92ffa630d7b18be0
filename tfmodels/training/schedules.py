"""Learning-rate schedule: linear warm-up to the peak rate, then constant, linear or cosine decay."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmodels")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * step / warmup_steps` during warm-up, then `decay` from `peak` to `minimum` (0 unless
    given; nanoGPT's `min_lr`) at `total_steps`.

    Keras's own `CosineDecay` warms up but has no linear or constant variant; this one schedule
    covers the three, so that a config switches between them with one key.
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, decay="constant", minimum=0.0):
        if decay not in ("constant", "linear", "cosine"):
            raise ValueError(f"decay must be 'constant', 'linear' or 'cosine', got {decay!r}")
        if warmup_steps < 0 or total_steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1, got {warmup_steps}, {total_steps}")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.minimum = float(minimum)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = ops.maximum(float(self.warmup_steps), 1.0)
        warm = peak * ops.minimum(step / warmup, 1.0) if self.warmup_steps else peak
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        low = self.minimum
        if self.decay == "linear":
            decayed = low + (peak - low) * (1.0 - progress)
        elif self.decay == "cosine":
            decayed = low + (peak - low) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            decayed = peak + 0.0 * progress
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "minimum": self.minimum,
        }
