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

# Batching by length: each epoch's permutation is cut into windows of this many batches; inside a
# window the examples are sorted by length and cut into batches, whose order is then shuffled over the
# epoch (Hugging Face's `group_by_length`, fairseq's buckets). A batch is padded to its longest example,
# rounded up to a multiple of LENGTH_MULTIPLE (fewer distinct shapes for XLA to compile).
LENGTH_WINDOW = 50
LENGTH_MULTIPLE = 8


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


def batches_by_length(token_ids: np.ndarray, labels, pad_id: int, global_batch: int, seed: int,
                      epochs: int, first_epoch: int = 0) -> tf.data.Dataset:
    """`training_batches((token_ids, labels), ...)` with batches of examples of similar length, each
    cut to its longest (`(B, T_b)`, T_b <= T): the same examples an epoch (the same permutation of
    (seed, epoch), the same few left over), grouped by length (`length_grouped_order`). A function of
    the seed and the epoch alone, so a resume at epoch e sees the batches an uninterrupted run does.
    `labels` may be a tuple of arrays (a token classifier's per-token labels and weights): those shaped
    as the token ids are cut with them."""
    lengths = np.sum(np.asarray(token_ids) != pad_id, axis=1)  # (N,) real tokens ([CLS] and [SEP] included)
    n = len(lengths)
    steps = n // global_batch
    order = np.concatenate([length_grouped_order(lengths, global_batch, seed, e) for e in range(first_epoch, epochs)]
                           ) if epochs > first_epoch else np.zeros((0,), np.int64)
    ids = tf.constant(np.asarray(token_ids))
    ys = [tf.constant(np.asarray(y)) for y in (labels if isinstance(labels, tuple) else (labels,))]
    longest = tf.constant(lengths, tf.int32)
    cap = int(ids.shape[1])

    def gather(i):  # (B,) example indices -> (B, T_b) ids, (B,) labels (or (B, T_b) per-token ones)
        width = tf.reduce_max(tf.gather(longest, i))
        width = tf.minimum((width + LENGTH_MULTIPLE - 1) // LENGTH_MULTIPLE * LENGTH_MULTIPLE, cap)
        cut = lambda t: tf.gather(t, i)[:, :width] if t.shape.rank == 2 and t.shape[1] == cap else tf.gather(t, i)  # noqa: E731
        return (cut(ids), *[cut(y) for y in ys])

    batches = tf.data.Dataset.from_tensor_slices(order.reshape(-1, global_batch)).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.apply(tf.data.experimental.assert_cardinality(max(0, epochs - first_epoch) * steps))


def length_grouped_order(lengths: np.ndarray, global_batch: int, seed: int, epoch: int) -> np.ndarray:
    """Epoch `epoch`'s example order when batching by length, `(steps * global_batch,)`: the epoch's
    permutation (`epoch_order`) without its last `n % global_batch`, sorted by length inside windows of
    LENGTH_WINDOW batches, then whole batches shuffled (by `(seed, epoch)` too)."""
    n = len(lengths)
    steps = n // global_batch
    order = epoch_order(n, seed, epoch)[: steps * global_batch]
    window = LENGTH_WINDOW * global_batch
    for start in range(0, len(order), window):
        part = order[start:start + window]
        order[start:start + window] = part[np.argsort(-lengths[part], kind="stable")]  # longest first
    batches = order.reshape(steps, global_batch)
    shuffled = np.random.default_rng([seed, epoch, 1]).permutation(steps)
    return batches[shuffled].reshape(-1)


def trim_padding(dataset: tf.data.Dataset, pad_id: int) -> tf.data.Dataset:
    """Batches of (token ids `(B, T)`, labels...) cut to their longest example (rounded up to
    LENGTH_MULTIPLE): evaluation batches read the same tokens in fewer columns (per-token labels and
    weights, shaped as the ids, are cut with them)."""
    def trim(ids, *rest):
        real = tf.reduce_sum(tf.cast(tf.not_equal(ids, pad_id), tf.int32), axis=1)
        width = tf.reduce_max(real)
        width = tf.minimum((width + LENGTH_MULTIPLE - 1) // LENGTH_MULTIPLE * LENGTH_MULTIPLE, tf.shape(ids)[1])
        return (ids[:, :width], *[y[:, :width] if y.shape.rank == 2 else y for y in rest])

    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation `training_batches` uses for `epoch` (for tests and for looking at a run)."""
    noise = tf.random.stateless_uniform([num_examples], seed=tf.constant([seed, epoch], tf.int64))
    return tf.argsort(noise).numpy()
