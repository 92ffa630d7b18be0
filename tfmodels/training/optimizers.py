"""Builds the optimizer and its learning-rate schedule from `TrainerConfig`."""

from __future__ import annotations

import keras

from tfmodels.config import TrainerConfig
from tfmodels.errors import ConfigError
from tfmodels.training.schedules import WarmupDecay


def scaled_learning_rate(config: TrainerConfig, num_replicas: int) -> float:
    """The peak rate after the config's scaling rule (`lr_scaling`) for `num_replicas` replicas."""
    return config.learning_rate * (num_replicas if config.lr_scaling == "linear" else 1)


def build_optimizer(config: TrainerConfig, total_steps: int, num_replicas: int) -> keras.optimizers.Optimizer:
    if config.learning_rate <= 0:
        raise ConfigError(f"trainer.learning_rate must be positive, got {config.learning_rate}")
    if config.warmup_steps >= total_steps and config.warmup_steps > 0:
        raise ConfigError(
            f"trainer.warmup_steps={config.warmup_steps} is not less than the {total_steps} training steps; "
            "lower it or train longer"
        )
    peak = scaled_learning_rate(config, num_replicas)
    if config.schedule == "constant" and config.warmup_steps == 0:
        learning_rate = peak
    else:
        learning_rate = WarmupDecay(peak, total_steps, config.warmup_steps, config.schedule)
    # Keras applies `weight_decay` decoupled from the gradient (as AdamW) in every optimizer.
    common = {"learning_rate": learning_rate, "clipnorm": config.clipnorm, "weight_decay": config.weight_decay or None}
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(**{**common, "weight_decay": config.weight_decay})
    return keras.optimizers.SGD(momentum=0.9, **common)
