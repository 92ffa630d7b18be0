"""Decoding a token classifier's per-word scores into tags.

`best_valid_tags` is the Viterbi path over the labels' legal transitions (an `I-ORG` only after `B-ORG`
or `I-ORG`; in BIOES an entity closed by `E-`): the sequence with the highest sum of per-word log
probabilities among the sequences that are valid, by tensorflow_text's `viterbi_constrained_sequence`.
Without a table (`allowed=None`) it is each word's most likely label (what semantic roles use: a role
sits on a head word and no role constrains its neighbour's).
"""

from __future__ import annotations

import tensorflow as tf


def word_scores(logits, starts):
    """Token logits (B, T, L) -> each word's log probabilities (B, W, L), read at its first sub-word
    (`starts` (B, W), -1 for a word cut or absent: read at position 0 and masked by the caller)."""
    positions = tf.maximum(starts, 0)
    scores = tf.gather(tf.cast(logits, tf.float32), positions, batch_dims=1)  # (B, W, L)
    return tf.nn.log_softmax(scores, axis=-1)


def best_valid_tags(scores, lengths, allowed=None):
    """Label ids (B, W): the best valid sequence of each row's first `lengths` words (the rest: 0)."""
    if allowed is None:
        return tf.argmax(scores, axis=-1, output_type=tf.int32)
    import tensorflow_text

    width = tf.shape(scores)[1]
    paths = tensorflow_text.viterbi_constrained_sequence(
        scores, sequence_length=tf.cast(lengths, tf.int32), allowed_transitions=tf.constant(allowed),
        use_log_space=True, use_start_and_end_states=True)  # ragged (B, lengths)
    paths = tf.cast(paths.to_tensor(default_value=0), tf.int32)  # (B, max(lengths))
    return tf.pad(paths, [[0, 0], [0, width - tf.shape(paths)[1]]])  # (B, W)
