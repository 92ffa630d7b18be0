"""tf.data pipelines over a `TextSet`: tokenize (in parallel, in the pipeline), cache, shuffle, batch, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmodels.data.text import TextSet
from tfmodels.data.tokenizers import TextPreprocessor
from tfmodels.errors import DataError

TOKENIZE_BATCH = 512  # strings tokenized per call: keras-hub's tokenizer is much faster on batches


def text_dataset(texts: TextSet, preprocessor: TextPreprocessor, global_batch_size: int, training: bool, seed: int,
                 cache: bool = True, shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """Batches of (token ids `(B, sequence_length)` int32, label). Training batches are shuffled and full."""
    if training and len(texts) < global_batch_size:
        raise DataError(f"the training set ('{texts.source}') has {len(texts)} examples, fewer than one batch of "
                        f"{global_batch_size}; lower trainer.batch_size")
    labels = texts.labels if texts.labels is not None else np.zeros(len(texts), np.int32)
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(texts.texts, tf.string), labels))
    ds = ds.batch(TOKENIZE_BATCH)
    ds = ds.map(lambda t, y: (preprocessor(t), y), num_parallel_calls=tf.data.AUTOTUNE)  # (b,) -> (b, T)
    ds = ds.unbatch().apply(tf.data.experimental.assert_cardinality(len(texts)))  # unbatch forgets the count
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(shuffle_buffer, len(texts)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(global_batch_size, drop_remainder=training)  # full training batches: static shapes
    return ds.prefetch(tf.data.AUTOTUNE)


def token_ids(texts: list[str], preprocessor: TextPreprocessor) -> np.ndarray:
    """All texts as one `(N, sequence_length)` array, tokenized in batches."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(TOKENIZE_BATCH)
    return np.concatenate([preprocessor(batch).numpy() for batch in ds])
