"""The best answer spans of a span labeller's logits: windows -> candidates -> each question's answer.

A span (i, j) of a window scores start_logits[i] + end_logits[j] (BERT's rule), for i <= j < i +
max_answer_tokens inside the window's context (never the question, [CLS] or [SEP]). All pairs are
scored (a (T, T) band a window), so the top n are exact, not a top-n-starts by top-n-ends guess.
A question read in several windows takes its best candidates over all of them; each candidate maps
back to characters of the context through the byte offsets of its first and last sub-words' words.
"""

from __future__ import annotations

import tensorflow as tf

NEG = -1e9


def window_candidates(logits, context_position, context_length, n_best: int, max_answer_tokens: int):
    """logits (N, 2, T) of N windows -> the top `n_best` spans of each: (scores, starts, ends), each (N, n);
    positions count in the window. A window without context gives scores NEG."""
    logits = tf.cast(logits, tf.float32)
    T = tf.shape(logits)[2]
    position = tf.range(T)[None, :]  # (1, T)
    inside = (position >= context_position[:, None]) & (position < (context_position + context_length)[:, None])  # (N, T)
    start = tf.where(inside, logits[:, 0], NEG)  # (N, T)
    end = tf.where(inside, logits[:, 1], NEG)
    band = tf.linalg.band_part(tf.ones([T, T], tf.bool), 0, max_answer_tokens - 1)  # i <= j < i + max_answer_tokens
    pair = start[:, :, None] + end[:, None, :]  # (N, T, T): [i, j] = start i, end j
    pair = tf.where(band[None], pair, 2 * NEG)
    k = tf.minimum(n_best, T * T)
    scores, flat = tf.math.top_k(tf.reshape(pair, [tf.shape(pair)[0], -1]), k=k)  # (N, n)
    return scores, flat // T, flat % T


def answers(scores, starts, ends, packed: dict, contexts, n_best: int) -> dict:
    """Each question's `n_best` answers as text: candidates (N, n) of its windows (`window_candidates`) and the
    packer's outputs (`tfmodels/data/qa_packer.py`) -> {"answers" (B, n) strings, "scores" (B, n) (start +
    end logits), "probabilities" (B, n) (a softmax over the n), "starts", "ends" (B, n) character offsets into
    the context (end exclusive; -1 where there are fewer than n answers)}, best first. A span that several
    overlapping windows found counts once, at its best score."""
    example = tf.cast(packed["example"], tf.int32)  # (N,)
    n = tf.shape(scores)[1]
    B = tf.shape(packed["token_begin"])[0]
    # Window positions -> the context's sub-words -> byte offsets of their words.
    shift = tf.cast(packed["window_start"] - packed["context_position"], tf.int32)[:, None]  # (N, 1)
    first, last = starts + shift, ends + shift  # (N, n) into the context's sub-words
    rows = tf.repeat(example, n)
    begin = tf.gather_nd(packed["token_begin"], tf.stack([rows, tf.reshape(tf.maximum(first, 0), [-1])], 1))
    end = tf.gather_nd(packed["token_end"], tf.stack([rows, tf.reshape(tf.maximum(last, 0), [-1])], 1))
    ragged = lambda values: tf.RaggedTensor.from_value_rowids(values, rows, nrows=B)  # noqa: E731 (B, windows x n)
    score = ragged(tf.reshape(scores, [-1])).to_tensor(default_value=4 * NEG)  # (B, M)
    begin, end = ragged(begin).to_tensor(default_value=-1), ragged(end).to_tensor(default_value=-1)
    order = tf.argsort(score, axis=1, direction="DESCENDING", stable=True)
    score, begin, end = (tf.gather(t, order, batch_dims=1) for t in (score, begin, end))
    M = tf.shape(score)[1]
    same = tf.equal(begin[:, :, None], begin[:, None, :]) & tf.equal(end[:, :, None], end[:, None, :])  # (B, M, M)
    earlier = tf.linalg.band_part(tf.ones([M, M], tf.bool), -1, 0) & ~tf.eye(M, dtype=tf.bool)  # [i, j]: j < i
    repeated = tf.reduce_any(same & earlier[None], axis=2)  # (B, M)
    score = tf.where(repeated | (score <= NEG), 4 * NEG, score)
    k = tf.minimum(n_best, M)
    score, keep = tf.math.top_k(score, k=k)  # (B, k), best first
    begin, end = tf.gather(begin, keep, batch_dims=1), tf.gather(end, keep, batch_dims=1)
    present = score > NEG
    text = tf.broadcast_to(contexts[:, None], tf.shape(begin))
    answer = tf.strings.substr(text, tf.maximum(begin, 0), tf.maximum(end - begin, 0))  # bytes
    char_start = tf.strings.length(tf.strings.substr(text, tf.zeros_like(begin), tf.maximum(begin, 0)), unit="UTF8_CHAR")
    char_end = char_start + tf.strings.length(answer, unit="UTF8_CHAR")
    probabilities = tf.nn.softmax(tf.where(present, score, -float("inf")), axis=1)
    return {"answers": tf.where(present, answer, ""), "scores": tf.where(present, score, 0.0),
            "probabilities": tf.where(present, probabilities, 0.0),
            "starts": tf.where(present, char_start, -1), "ends": tf.where(present, char_end, -1)}


__all__ = ["answers", "window_candidates"]
