"""tf.data pipelines over a `TextSet`: tokenize (in the pipeline, in batches), order, batch, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmodels.data.order import batches_by_length, training_batches, trim_padding
from tfmodels.data.text import TextSet
from tfmodels.data.tokenizers import TextPreprocessor
from tfmodels.errors import DataError

TOKENIZE_BATCH = 512  # strings tokenized per call: keras-hub's tokenizer is much faster on batches


def text_dataset(texts: TextSet, preprocessor: TextPreprocessor, global_batch_size: int, training: bool, seed: int,
                 cache: bool = True, epochs: int = 1, first_epoch: int = 0, by_length: bool = False) -> tf.data.Dataset:
    """Batches of (token ids `(B, sequence_length)` int32, label); sentence pairs packed in one sequence.

    Training: every text tokenized once up front (in tf.data, in batches), then full batches for
    epochs first_epoch .. epochs - 1 in one stream, each epoch in an order drawn from (seed, epoch)
    (`tfmodels.data.order`). Evaluation: tokenized as it streams, every example once, in order.
    `by_length`: training batches group examples of similar length, and every batch is cut to its
    longest example (`(B, T_b)`, T_b <= sequence_length): the padding is not computed.
    """
    if training and len(texts) < global_batch_size:
        raise DataError(f"the training set ('{texts.source}') has {len(texts)} examples, fewer than one batch of "
                        f"{global_batch_size}; lower trainer.batch_size")
    labels = texts.labels if texts.labels is not None else np.zeros(len(texts), np.int32)
    if training:
        ids = token_ids(texts.texts, preprocessor, texts.second)  # (N, T)
        if by_length:
            ds = batches_by_length(ids, labels, preprocessor.pad_id, global_batch_size, seed, epochs, first_epoch)
        else:
            ds = training_batches((ids, labels), global_batch_size, seed, epochs, first_epoch)
        return ds.prefetch(tf.data.AUTOTUNE)
    columns = tuple(tf.constant(column, tf.string) for column in texts.columns())
    ds = tf.data.Dataset.from_tensor_slices((columns, labels))
    ds = ds.batch(TOKENIZE_BATCH)
    ds = ds.map(lambda t, y: (preprocessor(*t), y), num_parallel_calls=tf.data.AUTOTUNE)  # (b,) -> (b, T)
    ds = ds.unbatch().apply(tf.data.experimental.assert_cardinality(len(texts)))  # unbatch forgets the count
    if cache:
        ds = ds.cache()
    ds = ds.batch(global_batch_size)
    return (trim_padding(ds, preprocessor.pad_id) if by_length else ds).prefetch(tf.data.AUTOTUNE)


def token_ids(texts: list[str], preprocessor: TextPreprocessor, second: list[str] | None = None) -> np.ndarray:
    """All texts (or pairs: `texts` and `second`) as one `(N, sequence_length)` array, tokenized in batches.

    Inside tf.data, where keras-hub takes its TensorFlow path (tensorflow-text's FastWordpiece):
    called eagerly, its tokenizer runs in pure Python, many times slower (docs/history.md#text).
    """
    columns = (texts,) if second is None else (texts, second)
    ds = tf.data.Dataset.from_tensor_slices(tuple(tf.constant(c, tf.string) for c in columns)).batch(TOKENIZE_BATCH)
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)  # (b,) [, (b,)] -> (b, T)
    return np.concatenate([batch.numpy() for batch in ds])
