"""The encoder-decoder Transformer itself: its masks (causal in the decoder, padding in the source), cached decoding
equal to recomputation, beam search against brute force and keras-hub's greedy sampler, saving."""

import itertools

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfmodels.decoding.beam_search import beam_search, length_penalty, strip_after_end, uncached_greedy
from tfmodels.models.seq2seq import Seq2SeqTransformer

V, PAD, END = 13, 12, 11  # ids 0..10 words, 11 the start/end token, 12 padding


def small_model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    options = dict(width=32, encoder_layers=2, decoder_layers=2, num_heads=4, ffn_dim=64, dropout=0.0, padding_id=PAD)
    options.update(kwargs)
    model = Seq2SeqTransformer(V, V, 12, 10, **options)
    model.build()
    return model


def sources(batch=3, length=12, seed=1):
    ids = np.random.default_rng(seed).integers(0, 11, (batch, length)).astype(np.int32)
    if length > 7:
        ids[0, 7:] = PAD  # a shorter source
    ids[np.arange(batch), [min(6, length - 1), length - 1, length - 1][:batch]] = END
    return ids


def test_a_change_after_position_t_leaves_the_outputs_up_to_t_unchanged():
    model, src = small_model(), sources()
    targets = np.random.default_rng(2).integers(0, 11, (3, 10)).astype(np.int32)
    changed = targets.copy()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    a = model({"source_ids": src, "target_ids": targets}).numpy()
    b = model({"source_ids": src, "target_ids": changed}).numpy()
    np.testing.assert_array_equal(a[:, :6], b[:, :6])
    assert np.abs(a[:, 6:] - b[:, 6:]).max() > 1e-3


def test_padding_in_the_source_changes_nothing():
    model, src = small_model(), sources()
    targets = np.random.default_rng(2).integers(0, 11, (3, 10)).astype(np.int32)
    longer = np.concatenate([src[:1, :7], np.full((1, 5), PAD, np.int32)], axis=1)  # the same source, more padding
    a = model({"source_ids": src[:1, :7], "target_ids": targets[:1]}).numpy()
    b = model({"source_ids": longer, "target_ids": targets[:1]}).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    other = longer.copy()
    other[0, 7] = 3  # a real token there instead: the outputs change
    assert np.abs(model({"source_ids": other, "target_ids": targets[:1]}).numpy() - b).max() > 1e-3


def test_cached_decoding_equals_recomputation():
    model, src = small_model(), sources()
    targets = np.random.default_rng(3).integers(0, 11, (3, 10)).astype(np.int32)
    full = model({"source_ids": src, "target_ids": targets}).numpy()  # (B, T, V)
    cross, mask = model.cross_key_values(model.encode(src)), model.padding_mask(src)
    cache, steps = model.init_cache(3, 10), []
    for t in range(10):
        logits, _, cache = model.call_with_cache(targets[:, t:t + 1], cache, t, cross, mask)
        steps.append(logits.numpy()[:, 0])
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-5)


def test_width_one_is_greedy_decoding_as_keras_hub_and_recomputation_decode_it():
    model = small_model(seed=4)
    src = sources()
    beam, _ = beam_search(model, src, 1, 9, END, END)
    uncached = uncached_greedy(model, src, 9, END, END)
    cross, mask = model.cross_key_values(model.encode(src)), model.padding_mask(src)

    def next(prompt, cache, index):  # keras-hub's sampler protocol; padding is never a choice
        logits, hidden, cache = model.call_with_cache(prompt[:, index - 1:index], cache, index - 1, cross, mask)
        return logits[:, 0] + tf.where(tf.range(V) == PAD, -1e9, 0.0), hidden[:, 0], cache

    prompt = np.full((3, 10), PAD, np.int32)
    prompt[:, 0] = END
    sampled = keras_hub.samplers.GreedySampler()(next=next, prompt=tf.constant(prompt), cache=model.init_cache(3, 10),
                                                 index=1, mask=tf.constant(prompt != PAD), stop_token_ids=[END])
    ours = strip_after_end(beam, END, PAD).to_list()
    assert ours == strip_after_end(uncached, END, PAD).to_list()
    assert ours == strip_after_end(tf.constant(sampled)[:, 1:], END, PAD).to_list()


def brute_force(model, src, max_length, alpha):
    """The best hypothesis by log p / lp(length) among every sequence of words that ends with END or
    reaches max_length (padding never written), each scored by one teacher-forced pass."""
    best = (-np.inf, None)
    for n in range(1, max_length + 1):
        candidates = [w for w in itertools.product(range(12), repeat=n)
                      if END not in w[:-1] and (n == max_length or w[-1] == END)]
        words = np.array(candidates, np.int32)  # (N, n)
        target_in = np.concatenate([np.full((len(words), 1), END, np.int32), words[:, :-1]], axis=1)
        batch = np.repeat(src[None], len(words), axis=0)
        log_p = tf.nn.log_softmax(model({"source_ids": batch, "target_ids": target_in})).numpy()  # (N, n, V)
        scores = np.take_along_axis(log_p, words[:, :, None], axis=2)[:, :, 0].sum(1) / float(length_penalty(n, alpha))
        if scores.max() > best[0]:
            best = (float(scores.max()), words[int(scores.argmax())].tolist())
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_enough_beam_finds_the_best_hypothesis_of_brute_force(alpha):
    model, src = small_model(seed=5, encoder_layers=1, decoder_layers=1), sources(1, 6, seed=6)
    tokens, score = beam_search(model, src, 150, 3, END, END, alpha=alpha)  # 12 + 144 live hypotheses at most
    best_score, best_words = brute_force(model, src[0], 3, alpha)
    found = [int(t) for t in tokens.numpy()[0] if t != PAD]
    assert found == best_words
    n = len(best_words)
    assert float(score[0]) / float(length_penalty(n, alpha)) == pytest.approx(best_score, rel=1e-4)


def test_a_beam_search_never_scores_below_greedy():
    model, src = small_model(seed=7), sources(3)
    _, greedy = beam_search(model, src, 1, 9, END, END, alpha=0.0)
    _, wide = beam_search(model, src, 4, 9, END, END, alpha=0.0)
    assert (wide.numpy() >= greedy.numpy() - 1e-5).all()


def test_the_model_saves_and_loads_with_its_config(tmp_path):
    model = small_model(share_embeddings=False, tie_weights=False, norm_first=False)
    src, tgt = sources(), np.random.default_rng(8).integers(0, 11, (3, 10)).astype(np.int32)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again({"source_ids": src, "target_ids": tgt}).numpy(),
                               model({"source_ids": src, "target_ids": tgt}).numpy(), atol=1e-6)
    assert Seq2SeqTransformer.from_config(model.get_config()).get_config() == model.get_config()
    assert model.wte_source is not None and again.wte_source is not None


def test_mixed_bfloat16_decodes_close_to_float32():
    model = small_model(seed=9)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = Seq2SeqTransformer.from_config(model.get_config())
        mixed.build()
        mixed.set_weights(model.get_weights())
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    src, tgt = sources(), np.random.default_rng(8).integers(0, 11, (3, 10)).astype(np.int32)
    a = model({"source_ids": src, "target_ids": tgt}).numpy()
    b = mixed({"source_ids": src, "target_ids": tgt}).numpy()
    assert b.dtype == np.float32 and np.linalg.norm(a - b) / np.linalg.norm(a) < 0.05
    tokens, _ = beam_search(mixed, src, 2, 9, END, END)
    assert tokens.shape == (3, 9)
