"""Causal-LM data: a corpus as one stream of token ids (`lm_tokenizers`), cut into windows of `block_size + 1` tokens.

As nanoGPT's `get_batch`: every training step draws `B` offsets into the stream and takes
`x = stream[o : o + block]`, `y = stream[o + 1 : o + block + 1]`. The offsets come from (seed, step)
alone (stateless ops), so a resumed run draws what a run never stopped would have, on any number of
replicas; shapes are static, (B, block), for XLA and TPUs. Evaluation reads a fixed set of
windows (the same at every evaluation), so its loss curves are comparable step to step.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError

TRAINING, EVALUATION = 0, 1  # the two streams of random numbers


def split_stream(stream: np.ndarray, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The first `1 - fraction` of the stream for training, the contiguous rest for validation (nanoGPT's 90/10)."""
    cut = int(round(len(stream) * (1.0 - validation_fraction)))
    return stream[:cut], stream[cut:]


def check_length(stream: np.ndarray, block_size: int, what: str) -> None:
    if len(stream) < block_size + 1:
        raise DataError(f"the {what} text gives {len(stream)} tokens, fewer than one window of block_size + 1 = "
                        f"{block_size + 1}; use more text or a smaller block_size")


def window_offsets(num_tokens: int, block_size: int, batch_size: int, seed: int, step, stream_id: int = TRAINING):
    """(B,) int64 offsets in [0, num_tokens - block_size - 1], a function of (seed, stream_id, step) alone."""
    step_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, stream_id], tf.int64),
                                                         tf.cast(step, tf.int64))
    return tf.random.stateless_uniform((batch_size,), step_seed, minval=0, maxval=num_tokens - block_size,
                                       dtype=tf.int64)


def lm_dataset(stream: np.ndarray, block_size: int, global_batch_size: int, seed: int, first_step: int = 0,
               steps: int | None = None, training: bool = True, num_batches: int | None = None) -> tf.data.Dataset:
    """Batches of (x (B, block), y (B, block)): training draws fresh windows each step from `first_step`
    (for `steps` steps, or forever); evaluation the same `num_batches` batches every time."""
    check_length(stream, block_size, "training" if training else "evaluation")
    tokens = tf.constant(stream, tf.int32)
    positions = tf.range(block_size + 1, dtype=tf.int64)[None, :]  # (1, block + 1)

    def window(step):
        offsets = window_offsets(len(stream), block_size, global_batch_size, seed, step,
                                 TRAINING if training else EVALUATION)
        w = tf.gather(tokens, offsets[:, None] + positions)  # (B, block + 1)
        return w[:, :-1], w[:, 1:]  # inputs and next-token targets, (B, block) each

    if training:
        steps_ds = tf.data.Dataset.range(first_step, tf.int64.max if steps is None else first_step + steps)
    else:
        if not num_batches or num_batches < 1:
            raise ValueError("an evaluation set needs num_batches >= 1")
        steps_ds = tf.data.Dataset.range(num_batches)
    return steps_ds.map(window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def corpus_dataset(stream: np.ndarray, block_size: int, batch_size: int) -> tf.data.Dataset:
    """Every next-token prediction of a whole corpus, once: batches of (x, y, weight), each (B, block).

    Consecutive windows of `block_size + 1` tokens overlapping by one (window i predicts tokens
    i * block + 1 .. (i + 1) * block), the last one padded with weight 0, so the weighted mean loss
    is the corpus's cross-entropy per token (every token but the first predicted exactly once), each
    from a context of 0 to block - 1 tokens before it in its window. Evaluation in training samples
    windows instead (`lm_dataset`); this is `evaluate`'s number.
    """
    check_length(stream, block_size, "evaluation")
    predictions = len(stream) - 1
    windows = -(-predictions // block_size)  # ceil
    padded = np.zeros(windows * block_size + 1, np.int32)
    padded[:len(stream)] = stream
    starts = np.arange(windows) * block_size
    idx = starts[:, None] + np.arange(block_size + 1)[None, :]  # (N, block + 1)
    w = padded[idx]
    weight = (idx[:, 1:] < len(stream)).astype(np.float32)  # (N, block): 1 at real targets
    return tf.data.Dataset.from_tensor_slices((w[:, :-1], w[:, 1:], weight)).batch(batch_size)
