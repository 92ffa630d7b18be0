"""Decoding an encoder-decoder: beam search with GNMT's length penalty (Wu et al. 2016), of which greedy
decoding is the width-1 case; and the uncached reference that recomputes every prefix.

All in TensorFlow ops, so that one graph decodes in training's evaluation, in `tfmodels translate` and
inside the exported SavedModel (the beam size a tensor there).

    memory = encode(source) once; cross-attention keys/values = once per source (tiled over the beams)
    step t: logits of the token after position t, from the self-attention cache  (B x K, V)
            every beam's hypotheses extended by every token, scored by
            log p(y_1..t) / lp(length),   lp(n) = ((5 + n) / 6) ** alpha
            the K best of the K x V kept (a finished hypothesis competes with its fixed score)
    stop when every hypothesis has ended (the end token) or after `max_length` tokens; padding is never
    written (a finished hypothesis continues with padding at no cost, which is how it keeps its score).

keras-hub's `BeamSampler` has no length penalty and no finished hypotheses (every beam runs to the
last position), so it is not used here; its `GreedySampler` decodes the same tokens as width 1
(tests/models/test_models_seq2seq.py holds them equal).
"""

from __future__ import annotations

import tensorflow as tf


def length_penalty(length, alpha):
    """GNMT's lp(n) = ((5 + n) / 6) ** alpha; alpha 0: none (the raw log-probability)."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, tf.cast(alpha, tf.float32))


def beam_search(model, source_ids, beam_size, max_length, start_id, end_id, alpha=0.6):
    """`source_ids` (B, S) -> (tokens (B, max_length) ending with end_id then padding, log-probabilities (B,)
    of the best hypothesis of each source). `beam_size` 1 is greedy decoding; it may be a tensor."""
    pad = model.padding_id
    batch = tf.shape(source_ids)[0]
    K = tf.convert_to_tensor(beam_size, tf.int32)
    tf.debugging.assert_positive(K, message="beam_size must be at least 1")
    V = model.target_vocabulary_size
    BK = batch * K

    source_mask = model.padding_mask(source_ids)  # (B, S)
    cross = model.cross_key_values(model.encode(source_ids))  # (B, L, 2, S, nh, hs)
    cross = tf.repeat(cross, K, axis=0)  # (B K, L, 2, S, nh, hs): beam k of source b at row b K + k
    source_mask = tf.repeat(source_mask, K, axis=0)  # (B K, S)
    cache = model.init_cache(BK, max_length)  # (B K, L, 2, T, nh, hs)

    tokens = tf.fill([BK, max_length + 1], tf.constant(pad, tf.int32))
    tokens = tf.concat([tf.fill([BK, 1], tf.constant(start_id, tf.int32)), tokens[:, 1:]], axis=1)  # (B K, T + 1)
    first_beam = tf.one_hot(tf.zeros([batch], tf.int32), K, on_value=0.0, off_value=-1e9)  # only beam 0 starts
    scores = tf.reshape(first_beam, [batch, K])  # (B, K) log p of each hypothesis
    finished = tf.zeros([batch, K], tf.bool)
    lengths = tf.zeros([batch, K], tf.int32)
    only_pad = tf.where(tf.equal(tf.range(V), pad), 0.0, -1e9)  # (V,) a finished hypothesis only pads on
    never_pad = tf.where(tf.equal(tf.range(V), pad), -1e9, 0.0)  # (V,) a live one never writes padding

    def step(t, tokens, cache, scores, finished, lengths):
        logits, _, cache = model.call_with_cache(tokens[:, t:t + 1], cache, t, cross, source_mask)  # (B K, 1, V)
        log_p = tf.nn.log_softmax(tf.cast(logits[:, 0], tf.float32))  # (B K, V)
        log_p = tf.where(tf.reshape(finished, [BK, 1]), only_pad[None, :], log_p + never_pad[None, :])
        total = tf.reshape(scores, [BK, 1]) + log_p  # (B K, V)
        grown = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # (B, K) tokens after this step
        normalised = tf.reshape(total, [batch, K, V]) / length_penalty(grown, alpha)[:, :, None]
        _, best = tf.math.top_k(tf.reshape(normalised, [batch, K * V]), k=K)  # (B, K) of the K x V
        beam, token = best // V, best % V  # (B, K) each
        scores = tf.gather(tf.reshape(total, [batch, K * V]), best, batch_dims=1)  # (B, K)
        rows = tf.reshape(beam + tf.range(batch)[:, None] * K, [BK])  # (B K,) the row each new beam extends
        tokens = tf.gather(tokens, rows)
        tokens = tf.tensor_scatter_nd_update(tokens, tf.stack([tf.range(BK), tf.fill([BK], t + 1)], axis=1),
                                             tf.reshape(token, [BK]))
        cache = tf.gather(cache, rows)
        lengths = tf.gather(grown, beam, batch_dims=1)
        finished = tf.logical_or(tf.gather(finished, beam, batch_dims=1), tf.equal(token, end_id))
        return t + 1, tokens, cache, scores, finished, lengths

    keep_going = lambda t, tokens, cache, scores, finished, lengths: tf.logical_and(  # noqa: E731
        t < max_length, tf.logical_not(tf.reduce_all(finished)))
    _, tokens, _, scores, finished, lengths = tf.while_loop(
        keep_going, step, (tf.constant(0), tokens, cache, scores, finished, lengths), maximum_iterations=max_length,
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None]), tf.TensorShape([None] * 6),
                          *[tf.TensorShape([None, None])] * 3))

    final = scores / length_penalty(lengths, alpha)  # (B, K)
    best = tf.argmax(final, axis=1, output_type=tf.int32)  # (B,)
    rows = tf.range(batch) * K + best
    return tf.gather(tokens, rows)[:, 1:], tf.gather(scores, best, batch_dims=1)


def uncached_greedy(model, source_ids, max_length, start_id, end_id):
    """Greedy decoding that runs the decoder over the whole prefix at every step (no cache): the
    reference a cached decoder must equal, and the cost it saves."""
    pad = model.padding_id
    batch = tf.shape(source_ids)[0]
    source_mask = model.padding_mask(source_ids)
    cross = model.cross_key_values(model.encode(source_ids))
    tokens = tf.concat([tf.fill([batch, 1], start_id), tf.fill([batch, max_length], pad)], axis=1)  # (B, T + 1)
    done = tf.zeros([batch], tf.bool)

    def step(t, tokens, done):
        logits = model.decode(tokens[:, :t + 1], cross, source_mask)  # (B, t + 1, V): every prefix position again
        last = logits[:, -1] + tf.where(tf.equal(tf.range(tf.shape(logits)[-1]), pad), -1e9, 0.0)  # never padding
        token = tf.where(done, pad, tf.argmax(last, axis=-1, output_type=tf.int32))  # (B,)
        tokens = tf.tensor_scatter_nd_update(tokens, tf.stack([tf.range(batch), tf.fill([batch], t + 1)], 1), token)
        return t + 1, tokens, tf.logical_or(done, tf.equal(token, end_id))

    _, tokens, _ = tf.while_loop(lambda t, tokens, done: tf.logical_and(t < max_length, ~tf.reduce_all(done)), step,
                                 (tf.constant(0), tokens, done), maximum_iterations=max_length,
                                 shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None]),
                                                   tf.TensorShape([None])))
    return tokens[:, 1:]


def strip_after_end(tokens, end_id, pad_id):
    """(B, T) decoded ids -> a ragged (B, None) of the tokens before each row's first end token."""
    ended = tf.cumsum(tf.cast(tf.equal(tokens, end_id), tf.int32), axis=1) > 0  # (B, T) at or after the end
    keep = tf.logical_and(tf.logical_not(ended), tf.not_equal(tokens, pad_id))
    return tf.ragged.boolean_mask(tokens, keep)
