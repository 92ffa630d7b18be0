"""Magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune"), small and written here: the TF Model
Optimization toolkit's `prune_low_magnitude` does not support Keras 3 (tensorflow/model-optimization#1119).

Every Dense and EinsumDense kernel is pruned (embeddings, biases and norms are not); at step t the
fraction of zeros each kernel must hold is

    s(t) = s_f * (1 - (1 - (t - t_0) / (t_1 - t_0)) ** 3)     for t_0 <= t <= t_1, s_f after

and its `round(s(t) * n)` smallest weights (by magnitude) are zero after every update: the masks are
chosen again every `update_every` steps and applied after every step (a callback: Keras's optimizer
never sees them, so Adam's moments of a pruned weight decay as usual, and a weight pruned once may come
back when the mask is chosen again, as in the paper). `prune_to_target` makes the kept model exactly sparse.
Zeros do not make dense kernels faster (the matrix products are as large); they compress (gzip).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfmodels.compat import nested_layers, raw_kernel


def polynomial_sparsity(step: int, target: float, begin: int, end: int) -> float:
    if step < begin:
        return 0.0
    progress = min(1.0, (step - begin) / max(end - begin, 1))
    return target * (1.0 - (1.0 - progress) ** 3)


def prunable_kernels(model) -> dict[str, keras.Variable]:
    """{path: kernel} of every Dense and EinsumDense layer that trains (float kernels: a quantized one is not
    pruned; nor is a frozen one, such as a distillation teacher's, which training could not repair)."""
    kernels = {}
    for layer in nested_layers(model):
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)) and not layer.quantization_mode:
            kernel = raw_kernel(layer)
            if kernel is not None and kernel.trainable:
                kernels[kernel.path] = kernel
    return kernels


def magnitude_mask(values: np.ndarray, sparsity: float) -> np.ndarray:
    """True where a weight is kept: all but the round(sparsity * n) smallest by magnitude."""
    pruned = int(round(sparsity * values.size))
    if pruned == 0:
        return np.ones(values.shape, bool)
    magnitudes = np.abs(values).ravel()
    order = np.argsort(magnitudes, kind="stable")  # ties broken by position, so exactly `pruned` are zero
    mask = np.ones(values.size, bool)
    mask[order[:pruned]] = False
    return mask.reshape(values.shape)


def sparsity_of(model) -> dict[str, float]:
    """{kernel path: fraction of zeros}."""
    return {path: float(np.mean(keras.ops.convert_to_numpy(kernel) == 0))
            for path, kernel in prunable_kernels(model).items()}


def prune_to_target(model, target: float) -> dict[str, float]:
    """Zeros the smallest `target` fraction of every prunable kernel; returns the sparsity of each."""
    for kernel in prunable_kernels(model).values():
        values = keras.ops.convert_to_numpy(kernel)
        kernel.assign(values * magnitude_mask(values, target))
    return sparsity_of(model)


class MagnitudePruning(keras.callbacks.Callback):
    """Applies the schedule above after every training step (every `steps_per_execution` steps when Keras runs
    several a call); adds `sparsity` (of all pruned kernels together) to each epoch's logs, and writes every
    kernel's sparsity to TensorBoard under `sparsity/` in `log_dir`."""

    def __init__(self, target: float, begin: int, end: int, update_every: int = 10, log_dir=None):
        super().__init__()
        self.target, self.begin, self.end, self.update_every = target, begin, end, update_every
        self.log_dir = log_dir
        self.masks: dict[str, tf.Tensor] = {}
        self.chosen_at = None

    def on_train_begin(self, logs=None):
        self.kernels = prunable_kernels(self.model)
        self.writer = tf.summary.create_file_writer(str(self.log_dir)) if self.log_dir else None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step < self.begin:
            return
        if self.chosen_at is None or step - self.chosen_at >= self.update_every or (
                step >= self.end and self.chosen_at < self.end):
            sparsity = polynomial_sparsity(step, self.target, self.begin, self.end)
            self.masks = {path: tf.constant(magnitude_mask(keras.ops.convert_to_numpy(kernel), sparsity), kernel.dtype)
                          for path, kernel in self.kernels.items()}
            self.chosen_at = step
        for path, kernel in self.kernels.items():
            kernel.assign(kernel * self.masks[path])

    def on_epoch_end(self, epoch, logs=None):
        layers = sparsity_of(self.model)
        sizes = {path: int(np.prod(kernel.shape)) for path, kernel in self.kernels.items()}
        overall = sum(layers[p] * sizes[p] for p in layers) / max(sum(sizes.values()), 1)
        if logs is not None:
            logs["sparsity"] = overall
        if self.writer is not None:
            step = int(self.model.optimizer.iterations.numpy())
            with self.writer.as_default():
                tf.summary.scalar("sparsity/all_pruned_kernels", overall, step=step)
                for path, value in layers.items():
                    tf.summary.scalar(f"sparsity/{path}", value, step=step)
            self.writer.flush()
