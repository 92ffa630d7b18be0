"""Masked-LM pretraining data: a corpus as fixed-length chunks of token ids, masked anew every epoch.

The corpus is tokenized once (`token_chunks`): every text's WordPiece ids followed by [SEP], all
concatenated and cut into chunks of `sequence_length - 1`, each behind a [CLS]. Masking is done in
the tf.data pipeline (`Masker`), batch by batch, so that every epoch masks different positions
(dynamic masking, as RoBERTa), drawn from (seed, step) so that a resumed run masks as one never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.config import MaskedLMConfig
from tfmodels.data.order import training_batches
from tfmodels.data.tokenizers import SEP, TextPreprocessor
from tfmodels.errors import DataError

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


@dataclass(frozen=True)
class Masker:
    """BERT's masking of a batch, drawn from a seed alone: `masker(token_ids (B, T), seed (2,))`.

    Every sequence gets `round(mask_rate x its selectable tokens)` masked positions (at least one,
    at most `mask_selection_length`), chosen uniformly among the tokens that are not [PAD], [CLS] or
    [SEP]; of those, `mask_token_rate` become [MASK], `random_token_rate` a random token of the
    vocabulary, and the rest stay as they are (80/10/10 in BERT). The rule is keras-hub's
    `MaskedLMMaskGenerator`; it is written here because that layer draws from TensorFlow's stateful
    random ops, whose state no backup holds, so a resumed run would mask differently from one never
    stopped. Here the masks of a batch are a function of (seed, step): exact resume, the same masks
    on any number of replicas, and static shapes (B, P) throughout (TPUs, XLA).
    """

    vocabulary_size: int
    mask_id: int
    unselectable_ids: tuple[int, ...]
    mask_rate: float
    mask_token_rate: float
    random_token_rate: float
    mask_selection_length: int

    def __call__(self, token_ids: tf.Tensor, seed: tf.Tensor) -> dict:
        token_ids = tf.convert_to_tensor(token_ids, tf.int32)  # (B, T)
        batch, length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        slots = self.mask_selection_length  # P
        choose_seed, kind_seed, random_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))

        # Which positions: the top P of a random score among the selectable ones, the first n of them kept.
        selectable = tf.reduce_all(token_ids[..., None] != tf.constant(self.unselectable_ids, tf.int32), axis=-1)
        count = tf.reduce_sum(tf.cast(selectable, tf.float32), axis=-1)  # (B,)
        n_masks = tf.minimum(tf.cast(slots, tf.float32), tf.where(count > 0, tf.maximum(1.0, tf.round(
            self.mask_rate * count)), 0.0))
        scores = tf.where(selectable, tf.random.stateless_uniform(tf.shape(token_ids), choose_seed), -1.0)
        _, candidates = tf.math.top_k(scores, k=slots)  # (B, P), random order
        real = tf.range(slots, dtype=tf.float32)[None, :] < n_masks[:, None]  # (B, P)
        positions = tf.sort(tf.where(real, candidates, length), axis=-1)  # real ones first, in order
        weights = tf.cast(positions < length, tf.float32)  # (B, P)
        positions = tf.where(positions < length, positions, 0)
        labels = tf.gather(token_ids, positions, batch_dims=1) * tf.cast(weights, tf.int32)  # (B, P)

        # What goes there: [MASK], a random token, or the token itself.
        kind = tf.random.stateless_uniform((batch, slots), kind_seed)
        random_ids = tf.random.stateless_uniform((batch, slots), random_seed, maxval=self.vocabulary_size,
                                                 dtype=tf.int32)
        new = tf.where(kind < self.mask_token_rate, self.mask_id,
                       tf.where(kind < self.mask_token_rate + self.random_token_rate, random_ids, labels))
        at = tf.one_hot(positions, length, dtype=tf.int32) * tf.cast(weights, tf.int32)[..., None]  # (B, P, T)
        replaced = tf.reduce_max(at, axis=1) > 0  # (B, T)
        masked = tf.where(replaced, tf.reduce_sum(at * new[..., None], axis=1), token_ids)
        return {"token_ids": masked, "mask_positions": positions, "mask_ids": labels, "mask_weights": weights}


def mask_generator(config: MaskedLMConfig, preprocessor: TextPreprocessor) -> Masker:
    vocabulary = preprocessor.vocabulary
    return Masker(
        vocabulary_size=len(vocabulary),
        mask_id=preprocessor.mask_id,
        unselectable_ids=tuple(vocabulary.index(t) for t in ("[PAD]", "[CLS]", "[SEP]")),
        mask_rate=config.mask_rate,
        mask_token_rate=config.mask_token_rate,
        random_token_rate=config.random_token_rate,
        mask_selection_length=max_predictions(config, preprocessor.sequence_length),
    )


def max_predictions(config: MaskedLMConfig, sequence_length: int) -> int:
    """Masked positions a sequence can hold: the expected count plus room (static shape for TPUs)."""
    return max(1, int(np.ceil(config.mask_rate * sequence_length * 1.25)))


TRAINING, EVALUATION = 0, 1  # the two streams of masks: a training step's, an evaluation batch's


def masked_lm_dataset(chunks: np.ndarray, masker: Masker, global_batch_size: int, training: bool, seed: int,
                      cache: bool = True, epochs: int = 1, first_epoch: int = 0) -> tf.data.Dataset:
    """Batches of ({"token_ids", "mask_positions"}, mask_ids, mask_weights): inputs, labels, sample weights.

    Training: full batches for epochs first_epoch .. epochs - 1 in one stream, each epoch in an
    order drawn from (seed, epoch) (`tfmodels.data.order`), and each step's masks from (seed, step):
    new masks every epoch (dynamic masking, as RoBERTa), the same after a resume. Evaluation: every
    sequence once, with the same masks every time (epochs are compared on equal terms).
    """
    if training and len(chunks) < global_batch_size:
        raise DataError(f"the pretraining corpus gives {len(chunks)} sequences, fewer than one batch of "
                        f"{global_batch_size}; lower trainer.batch_size or add text")
    if training:
        ds = training_batches((chunks,), global_batch_size, seed, epochs, first_epoch).map(lambda c: c)
        ds = ds.enumerate(start=first_epoch * (len(chunks) // global_batch_size))  # (global step, batch)
        stream = TRAINING
    else:
        ds = tf.data.Dataset.from_tensor_slices(chunks)
        if cache:
            ds = ds.cache()
        ds = ds.batch(global_batch_size).enumerate()
        stream = EVALUATION

    return mask_batches(ds, masker, seed, stream)


def masked_lm_passes(chunks: np.ndarray, global_batch_size: int, seed: int) -> tf.data.Dataset:
    """Full batches (B, T) for a run trained by steps: epoch after epoch of `training_batches`' seeded orders,
    without end (the run takes the steps it trains; a resume skips those done)."""
    if len(chunks) < global_batch_size:
        raise DataError(f"the pretraining corpus gives {len(chunks)} sequences, fewer than one batch of "
                        f"{global_batch_size}; lower trainer.batch_size or add text")
    return training_batches((chunks,), global_batch_size, seed, epochs=2**31 - 1).map(lambda c: c)


def mask_batches(steps_and_batches: tf.data.Dataset, masker: Masker, seed: int, stream: int) -> tf.data.Dataset:
    """(global step, token ids (B, T)) -> (inputs, labels, weights), the masks drawn from (seed, stream, step)."""
    def mask(step, token_ids):  # (), (B, T)
        step_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, stream], tf.int64), step)
        masked = masker(token_ids, step_seed)
        inputs = {"token_ids": masked["token_ids"], "mask_positions": masked["mask_positions"]}
        return inputs, masked["mask_ids"], masked["mask_weights"]

    return steps_and_batches.map(mask, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
