"""The order in which training sees its examples: a function of the seed and the epoch alone.

`tf.data`'s `shuffle(seed=..., reshuffle_each_iteration=True)` draws each epoch's order from a
counter of how many iterators were made, and distribution strategies make different numbers of
them, so the same seed gives one order on one device and another on two. Here epoch e's order is
a full permutation drawn from `(seed, e)`: the same on one replica or eight, in one process or on
several workers, and after a resume at epoch e as in a run that was never interrupted.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def training_batches(arrays, global_batch: int, seed: int, epochs: int, first_epoch: int = 0) -> tf.data.Dataset:
    """Full batches of `arrays` (a tuple of equal-length arrays) for epochs first_epoch .. epochs - 1.

    Epoch e visits `len // global_batch` batches of a permutation drawn from (seed, e); the few
    examples left over are a different few every epoch. The data set holds all those epochs in
    one stream (give `fit` the steps per epoch), so that one iterator serves the whole run.
    """
    tensors = tuple(tf.constant(np.asarray(a)) for a in arrays)
    n = int(tensors[0].shape[0])
    if any(int(t.shape[0]) != n for t in tensors):
        raise ValueError(f"arrays of different lengths: {[int(t.shape[0]) for t in tensors]}")
    steps = n // global_batch

    def epoch_batches(epoch):
        noise = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        order = tf.argsort(noise)  # (n,) a permutation of 0 .. n-1
        return tf.data.Dataset.from_tensor_slices(order).batch(global_batch, drop_remainder=True)

    indices = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches)
    batches = indices.map(lambda i: tuple(tf.gather(t, i) for t in tensors), num_parallel_calls=tf.data.AUTOTUNE)
    return batches.apply(tf.data.experimental.assert_cardinality(max(0, epochs - first_epoch) * steps))


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation `training_batches` uses for `epoch` (for tests and for looking at a run)."""
    noise = tf.random.stateless_uniform([num_examples], seed=tf.constant([seed, epoch], tf.int64))
    return tf.argsort(noise).numpy()
