"""Masked-LM pretraining data: a corpus as fixed-length chunks of token ids, masked anew every epoch.

The corpus is tokenized once (`token_chunks`): every text's WordPiece ids followed by [SEP], all
concatenated and cut into chunks of `sequence_length - 1`, each behind a [CLS]. Masking is done in
the tf.data pipeline by keras-hub's `MaskedLMMaskGenerator`, batch by batch, so that every epoch
masks different positions (dynamic masking, as RoBERTa).
"""

from __future__ import annotations

import keras_hub
import numpy as np
import tensorflow as tf

from tfmodels.config import MaskedLMConfig
from tfmodels.data.order import training_batches
from tfmodels.data.tokenizers import SEP, TextPreprocessor
from tfmodels.errors import DataError
from tfmodels.runtime import outside_xla

TOKENIZE_BATCH = 512


def token_chunks(texts: list[str], preprocessor: TextPreprocessor) -> np.ndarray:
    """`(N, sequence_length)` int32: [CLS] then `sequence_length - 1` ids of the concatenated corpus."""
    sep = preprocessor.vocabulary.index(SEP)
    pieces = []
    batches = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(TOKENIZE_BATCH)
    for ids in batches.map(preprocessor.tokenize, num_parallel_calls=tf.data.AUTOTUNE):  # ragged (b, None)
        ends = np.cumsum(ids.row_lengths().numpy())
        pieces.append(np.insert(ids.flat_values.numpy(), ends, sep))  # a [SEP] after each text
    stream = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, np.int32)
    body = preprocessor.sequence_length - 1
    n_chunks = len(stream) // body
    if n_chunks == 0:
        raise DataError(f"the corpus has {len(stream)} tokens, fewer than one sequence of {body}; "
                        "use more text or a shorter data.tokenizer.sequence_length")
    chunks = stream[:n_chunks * body].reshape(n_chunks, body)
    return np.concatenate([np.full((n_chunks, 1), preprocessor.cls_id, np.int32), chunks], axis=1)


def mask_generator(config: MaskedLMConfig, preprocessor: TextPreprocessor) -> keras_hub.layers.MaskedLMMaskGenerator:
    vocabulary = preprocessor.vocabulary
    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=len(vocabulary),
        mask_selection_rate=config.mask_rate,
        mask_token_id=preprocessor.mask_id,
        mask_selection_length=max_predictions(config, preprocessor.sequence_length),
        unselectable_token_ids=[vocabulary.index(t) for t in ("[PAD]", "[CLS]", "[SEP]")],
        mask_token_rate=config.mask_token_rate,
        random_token_rate=config.random_token_rate,
    )


def max_predictions(config: MaskedLMConfig, sequence_length: int) -> int:
    """Masked positions a sequence can hold: the expected count plus room (static shape for TPUs)."""
    return max(1, int(np.ceil(config.mask_rate * sequence_length * 1.25)))


def masked_lm_dataset(chunks: np.ndarray, masker, global_batch_size: int, training: bool, seed: int,
                      cache: bool = True, epochs: int = 1, first_epoch: int = 0) -> tf.data.Dataset:
    """Batches of ({"token_ids", "mask_positions"}, mask_ids, mask_weights): inputs, labels, sample weights.

    Training: full batches for epochs first_epoch .. epochs - 1 in one stream, each epoch in an
    order drawn from (seed, epoch) (`tfmodels.data.order`). Evaluation: every sequence once.
    """
    if training and len(chunks) < global_batch_size:
        raise DataError(f"the pretraining corpus gives {len(chunks)} sequences, fewer than one batch of "
                        f"{global_batch_size}; lower trainer.batch_size or add text")
    if training:
        ds = training_batches((chunks,), global_batch_size, seed, epochs, first_epoch).map(lambda c: c)
    else:
        ds = tf.data.Dataset.from_tensor_slices(chunks)
        if cache:
            ds = ds.cache()
        ds = ds.batch(global_batch_size)

    def mask(token_ids):  # (B, T)
        with outside_xla():  # ragged shapes, new every batch
            masked = masker(token_ids)  # token_ids with 80/10/10 replacements, positions, original ids, weights
        # The masker pads to max_selections but forgets the batch size; a TPU needs it: (B, P) everywhere.
        predictions = (token_ids.shape[0], masker.mask_selection_length)
        positions, ids, weights = (tf.ensure_shape(masked[k], predictions)
                                   for k in ("mask_positions", "mask_ids", "mask_weights"))
        inputs = {"token_ids": masked["token_ids"], "mask_positions": positions}
        return inputs, ids, weights

    return ds.map(mask, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
