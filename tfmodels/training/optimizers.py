"""Builds the optimizer and its learning-rate schedule from `TrainerConfig`."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmodels.config import TrainerConfig
from tfmodels.errors import ConfigError
from tfmodels.training.schedules import WarmupDecay


class _FusedAdamUpdate:
    """Adam's update of one variable in one kernel (TensorFlow's `ResourceApplyAdam`).

    Keras's Adam writes the update as about a dozen element-wise ops per variable, each a pass
    over memory; `ResourceApplyAdam` computes the same formulas in one pass:
        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
        variable -= alpha * m / (sqrt(v) + epsilon)
    (equal to Keras's to float rounding: tests/training/test_optimizers.py). AMSGrad, and sparse gradients
    (applied densely, as Keras does), take Keras's own path; so does weight decay, which Keras
    applies before this update.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(m), v=_handle(v),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False,
        )


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (the current device's, under a strategy)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


class _ClipTheGlobalNorm:
    """`global_clipnorm` of the batch's gradient under a strategy too, as on one device.

    Keras 3.15 clips in each replica before it sums the replicas' gradients
    (`BaseOptimizer.apply` -> `_clip_gradients`, then `_all_reduce_sum_gradients`): each replica's
    part is clipped by its own norm, so with two replicas the update differs from one device's
    whenever clipping is active (measured: a GPT's loss 2.1751 vs 2.1727 after 60 steps). Here the
    replicas first sum their gradients (one more all-reduce), and each part is scaled by
    clipnorm / max(norm of the sum, clipnorm), so that the sum Keras then takes is the clipped gradient.
    """

    def _clip_gradients(self, grads):
        context = tf.distribute.get_replica_context()
        if not self.global_clipnorm or context is None or context.num_replicas_in_sync == 1:
            return super()._clip_gradients(grads)
        dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]  # IndexedSlices applied densely
        present = [g for g in dense if g is not None]
        norm = tf.linalg.global_norm(context.all_reduce(tf.distribute.ReduceOp.SUM, present))  # of the batch's
        clip = tf.constant(self.global_clipnorm, norm.dtype)
        scale = clip / tf.maximum(norm, clip)  # Keras's clip_by_global_norm
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in dense]


@keras.saving.register_keras_serializable(package="tfmodels")
class FusedAdam(_ClipTheGlobalNorm, _FusedAdamUpdate, keras.optimizers.Adam):
    """`keras.optimizers.Adam`, each variable updated by one fused kernel."""


@keras.saving.register_keras_serializable(package="tfmodels")
class FusedAdamW(_ClipTheGlobalNorm, _FusedAdamUpdate, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` (decoupled weight decay), each variable updated by one fused kernel."""


@keras.saving.register_keras_serializable(package="tfmodels")
class SGD(_ClipTheGlobalNorm, keras.optimizers.SGD):
    """`keras.optimizers.SGD`, its global norm clipped across replicas."""


def scaled_learning_rate(config: TrainerConfig, num_replicas: int) -> float:
    """The peak rate after the config's scaling rule (`lr_scaling`) for `num_replicas` replicas."""
    return config.learning_rate * (num_replicas if config.lr_scaling == "linear" else 1)


# Weight decay pulls weights towards zero; biases and norm scales and offsets are left alone, and
# the embedding matrices unless `trainer.decay_embeddings` (nanoGPT decays every 2-D weight).
# Matched as parts of variable names.
NO_DECAY = ["bias", "gamma", "beta"]
EMBEDDINGS = "embeddings"


def warmup_steps(config: TrainerConfig, total_steps: int) -> int:
    """`trainer.warmup_steps`, or `trainer.warmup_fraction` of the training steps when that is set
    (the config allows one of the two: `TrainerConfig.validate`)."""
    return int(round(config.warmup_fraction * total_steps)) if config.warmup_fraction else config.warmup_steps


def build_optimizer(config: TrainerConfig, total_steps: int, num_replicas: int) -> keras.optimizers.Optimizer:
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
        learning_rate = WarmupDecay(peak, total_steps, warmup, config.schedule,
                                    minimum=config.min_learning_rate * peak / config.learning_rate)
    # Keras applies `weight_decay` decoupled from the gradient (as AdamW) in every optimizer;
    # `global_clipnorm` clips the norm of all gradients together.
    common = {"learning_rate": learning_rate, "global_clipnorm": config.clipnorm,
              "weight_decay": config.weight_decay or None}
    if config.optimizer == "adam":
        optimizer = FusedAdam(beta_2=config.beta_2, epsilon=config.adam_epsilon, **common)
    elif config.optimizer == "adamw":
        optimizer = FusedAdamW(beta_2=config.beta_2, epsilon=config.adam_epsilon,
                               **{**common, "weight_decay": config.weight_decay})
    else:
        optimizer = SGD(momentum=0.9, **common)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY + ([] if config.decay_embeddings else [EMBEDDINGS]))
    return optimizer
