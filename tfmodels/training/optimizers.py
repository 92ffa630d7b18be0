"""Builds the optimizer and its learning-rate schedule from `TrainerConfig`."""

from __future__ import annotations

import keras

from tfmodels.config import TrainerConfig
from tfmodels.errors import ConfigError
from tfmodels.training.schedules import WarmupDecay


def scaled_learning_rate(config: TrainerConfig, num_replicas: int) -> float:
    """The peak rate after the config's scaling rule (`lr_scaling`) for `num_replicas` replicas."""
    return config.learning_rate * (num_replicas if config.lr_scaling == "linear" else 1)


# Weight decay pulls weights towards zero; biases, norm scales and offsets, and embeddings are
# left alone (as BERT and most fine-tuning recipes do). Matched as parts of variable names.
NO_DECAY = ["bias", "gamma", "beta", "embeddings"]


def warmup_steps(config: TrainerConfig, total_steps: int) -> int:
    """`trainer.warmup_steps`, or `trainer.warmup_fraction` of the training steps when that is set."""
    if not 0.0 <= config.warmup_fraction < 1.0:
        raise ConfigError(f"trainer.warmup_fraction must be in [0, 1), got {config.warmup_fraction}")
    if config.warmup_fraction and config.warmup_steps:
        raise ConfigError("set trainer.warmup_steps or trainer.warmup_fraction, not both")
    return int(round(config.warmup_fraction * total_steps)) if config.warmup_fraction else config.warmup_steps


def build_optimizer(config: TrainerConfig, total_steps: int, num_replicas: int) -> keras.optimizers.Optimizer:
    if config.learning_rate <= 0:
        raise ConfigError(f"trainer.learning_rate must be positive, got {config.learning_rate}")
    warmup = warmup_steps(config, total_steps)
    if warmup >= total_steps and warmup > 0:
        raise ConfigError(
            f"trainer.warmup_steps={warmup} is not less than the {total_steps} training steps; "
            "lower it or train longer"
        )
    peak = scaled_learning_rate(config, num_replicas)
    if config.schedule == "constant" and warmup == 0:
        learning_rate = peak
    else:
        learning_rate = WarmupDecay(peak, total_steps, warmup, config.schedule)
    # Keras applies `weight_decay` decoupled from the gradient (as AdamW) in every optimizer;
    # `global_clipnorm` clips the norm of all gradients together.
    common = {"learning_rate": learning_rate, "global_clipnorm": config.clipnorm,
              "weight_decay": config.weight_decay or None}
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(**common)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(**{**common, "weight_decay": config.weight_decay})
    else:
        optimizer = keras.optimizers.SGD(momentum=0.9, **common)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer
