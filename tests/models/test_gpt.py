"""The GPT decoder: the battery, and numbers that prove the wiring (causality, cache, parity, initialisation)."""

import math

import keras
import keras_hub
import numpy as np
import pytest
from helpers import run_layer_test

from tfmodels.layers import DecoderBlock, MultiHeadSelfAttention
from tfmodels.models import GPT

RNG = np.random.default_rng(0)
B, T, C, H, V = 3, 12, 32, 4, 61
VECTORS = RNG.normal(size=(B, T, C)).astype(np.float32)
TOKENS = RNG.integers(0, V, size=(B, T)).astype(np.int32)
GPT_KWARGS = dict(vocabulary_size=V, block_size=T + 4, width=C, num_layers=2, num_heads=H, dropout=0.0)


def small_gpt(**kwargs):
    model = GPT(**{**GPT_KWARGS, **kwargs})
    model(TOKENS)
    return model


# --- the battery ---------------------------------------------------------------------------------

def block_params(ffn_dim, bias=True):
    """c_attn (C, 3C), c_proj (C, C), ln_1, ln_2, c_fc (C, F), c_proj (F, C); without biases, norms keep their scale."""
    b = 1 if bias else 0
    return (C * 3 * C + b * 3 * C) + (C * C + b * C) + 2 * (C + b * C) + (C * ffn_dim + b * ffn_dim) + (ffn_dim * C + b * C)


WTE, WPE = V * C, (T + 4) * C  # token table (tied to lm_head unless untied), positions of the block


@pytest.mark.parametrize("cls, kwargs, inputs, shape, trainable, params, output_dtype", [
    (MultiHeadSelfAttention, dict(num_heads=H, causal=True, dropout=0.1), VECTORS, (B, T, C), 4, 4 * C * C + 4 * C, None),
    (DecoderBlock, dict(num_heads=H, ffn_dim=4 * C, dropout=0.1), VECTORS, (B, T, C), 12, block_params(4 * C), None),
    (DecoderBlock, dict(num_heads=H, ffn_dim=64, use_bias=False), VECTORS, (B, T, C), 6, block_params(64, False), None),
    (GPT, GPT_KWARGS, TOKENS, (B, T, V), 2 + 2 * 12 + 2, WTE + WPE + 2 * block_params(4 * C) + 2 * C, "float32"),
    (GPT, dict(GPT_KWARGS, tie_weights=False, use_bias=False, padding_id=0), TOKENS, (B, T, V), 3 + 2 * 6 + 1,
     WTE + WPE + 2 * block_params(4 * C, False) + C + C * V, "float32"),  # ln_f's scale; lm_head's own (C, V)
], ids=["causal_attention", "decoder_block", "decoder_block_no_bias", "gpt", "gpt_untied_no_bias"])
def test_decoder_battery(cls, kwargs, inputs, shape, trainable, params, output_dtype, tmp_path):
    run_layer_test(cls, kwargs, inputs, shape, trainable, tmp_path, expected_num_params=params, output_dtype=output_dtype,
                   targets=RNG.integers(0, V, size=(B, T)) if cls is GPT else None)


# --- causality -----------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0, 5, T - 2])
def test_the_future_does_not_reach_the_past(t):
    model = small_gpt()
    logits = np.asarray(model(TOKENS))
    later = TOKENS.copy()
    later[:, t + 1:] = (later[:, t + 1:] + 7) % V  # every token after t changed
    changed = np.asarray(model(later))
    np.testing.assert_allclose(changed[:, :t + 1], logits[:, :t + 1], atol=1e-6)
    assert np.abs(changed[:, t + 1:] - logits[:, t + 1:]).max() > 1e-3
    if t > 0:  # a token before t does change the logits at t
        earlier = TOKENS.copy()
        earlier[:, t - 1] = (earlier[:, t - 1] + 7) % V
        assert np.abs(np.asarray(model(earlier))[:, t] - logits[:, t]).max() > 1e-4


def test_attention_weights_are_lower_triangular():
    _, scores = small_gpt()(TOKENS, return_attention_scores=True)
    for layer in scores:  # (B, nh, T, T)
        weights = np.asarray(layer)
        assert np.all(weights[..., np.triu_indices(T, k=1)[0], np.triu_indices(T, k=1)[1]] == 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


# --- the key/value cache ---------------------------------------------------------------------------

def test_cached_decoding_equals_recomputing_the_prefix_for_prompts_of_different_lengths():
    """Prompts of 3, 5 and 7 tokens in one batch, right-padded; then one token a step from the cache.
    At every step the cached logits equal a full forward pass over the prefix (to 1e-5)."""
    model = small_gpt()
    lengths = np.array([3, 5, 7])
    tokens = TOKENS.copy()  # the continuation is TOKENS itself, fed one position at a time
    cache = model.init_cache(B, T)
    # Prefill every position of the shortest prompt at once, then one position a step.
    start = int(lengths.min())
    logits, _, cache = model.call_with_cache(tokens[:, :start], cache, 0)
    full = np.asarray(model(tokens))
    np.testing.assert_allclose(np.asarray(logits), full[:, :start], atol=1e-5)
    for index in range(start, T):
        step, _, cache = model.call_with_cache(tokens[:, index:index + 1], cache, index)
        prefix = np.asarray(model(tokens[:, :index + 1]))  # recomputed from scratch
        np.testing.assert_allclose(np.asarray(step)[:, 0], prefix[:, index], atol=1e-5)
    assert cache.shape == (B, 2, 2, T, H, C // H)


# --- parity with keras-hub's GPT-2 -------------------------------------------------------------------

def test_same_logits_as_keras_hub_gpt2_with_copied_weights():
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=V, num_layers=2, num_heads=H, hidden_dim=C,
                                             intermediate_dim=4 * C, dropout=0.0, max_sequence_length=T + 4)
    ours = small_gpt()
    ours.wte.embeddings.assign(backbone.token_embedding.embeddings)
    ours.wpe.position_embeddings.assign(backbone.position_embedding.position_embeddings)
    for block, theirs in zip(ours.blocks, backbone.transformer_layers):
        attention = theirs._self_attention_layer
        q, k, v = (np.asarray(d.kernel).reshape(C, C) for d in
                   (attention._query_dense, attention._key_dense, attention._value_dense))
        qb, kb, vb = (np.asarray(d.bias).reshape(C) for d in
                      (attention._query_dense, attention._key_dense, attention._value_dense))
        block.attn.c_attn.kernel.assign(np.concatenate([q, k, v], axis=1))
        block.attn.c_attn.bias.assign(np.concatenate([qb, kb, vb]))
        block.attn.c_proj.kernel.assign(np.asarray(attention._output_dense.kernel).reshape(C, C))
        block.attn.c_proj.bias.assign(attention._output_dense.bias)
        for mine, source in ((block.ln_1, theirs._self_attention_layer_norm),
                             (block.ln_2, theirs._feedforward_layer_norm),
                             (block.c_fc, theirs._feedforward_intermediate_dense),
                             (block.c_proj, theirs._feedforward_output_dense)):
            mine.set_weights(source.get_weights())
    ours.ln_f.set_weights(backbone.layer_norm.get_weights())
    hidden = backbone({"token_ids": TOKENS, "padding_mask": np.ones_like(TOKENS)})
    expected = np.asarray(backbone.token_embedding(hidden, reverse=True))
    np.testing.assert_allclose(np.asarray(ours(TOKENS)), expected, atol=1e-4)


@pytest.mark.parametrize("use_bias", [True, False])
def test_our_gpt_converts_to_keras_hub_gpt2_with_the_same_logits(use_bias):
    from tfmodels.converters.keras_hub_gpt2 import to_gpt2_backbone

    ours = small_gpt(use_bias=use_bias)
    for w in ours.weights:  # not GPT-2's zero biases and unit norms: every weight must reach its place
        w.assign(np.asarray(w) + RNG.normal(scale=0.02, size=w.shape).astype(np.float32))
    backbone = to_gpt2_backbone(ours)
    hidden = backbone({"token_ids": TOKENS, "padding_mask": np.ones_like(TOKENS)})
    np.testing.assert_allclose(np.asarray(backbone.token_embedding(hidden, reverse=True)), np.asarray(ours(TOKENS)),
                               atol=1e-4)
    with pytest.raises(ValueError, match=r"this GPT is not a GPT-2: tie_weights=False .*; ffn_dim=64"):
        to_gpt2_backbone(small_gpt(tie_weights=False, ffn_dim=64))


# --- initialisation -----------------------------------------------------------------------------------

def test_gpt2_initialisation_and_the_loss_at_step_zero():
    model = GPT(vocabulary_size=500, block_size=64, width=128, num_layers=4, num_heads=4)
    tokens = RNG.integers(0, 500, size=(8, 64))
    model(tokens)
    std = lambda w: float(np.std(np.asarray(w)))  # noqa: E731
    assert std(model.wte.embeddings) == pytest.approx(0.02, rel=0.05)
    assert std(model.blocks[0].c_fc.kernel) == pytest.approx(0.02, rel=0.05)
    for block in model.blocks:  # the residual projections: 0.02 / sqrt(2 x layers)
        for dense in (block.attn.c_proj, block.c_proj):
            assert std(dense.kernel) == pytest.approx(0.02 / math.sqrt(8), rel=0.05)
    logits = model(tokens[:, :-1])
    loss = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(tokens[:, 1:], logits))
    assert loss == pytest.approx(math.log(500), abs=0.05)


def test_every_weight_draws_its_own_random_numbers():
    # One unseeded Keras initializer shared by two weights gives both the same numbers: the position
    # table once started as the first rows of the token table (measured: 0.02 higher loss after the
    # 2,000 steps of the nanoGPT recipe).
    model = GPT(vocabulary_size=80, block_size=64, width=64, num_layers=2, num_heads=4)
    model(RNG.integers(0, 80, size=(2, 8)))
    assert not np.allclose(np.asarray(model.wte.embeddings)[:64], np.asarray(model.wpe.position_embeddings))
    starts = [(w.path, np.asarray(w).ravel()[:64]) for w in model.weights if len(w.shape) == 2]
    for i, (path, start) in enumerate(starts):
        for other, other_start in starts[:i]:
            assert not np.allclose(start, other_start), f"{path} starts as {other}"


# --- generation ---------------------------------------------------------------------------------------

def _prompts(lengths, total):
    tokens = np.zeros((len(lengths), total), np.int32)
    mask = np.zeros((len(lengths), total), bool)
    for row, n in enumerate(lengths):
        tokens[row, :n] = RNG.integers(0, V, n)
        mask[row, :n] = True
    return tokens, mask


def test_greedy_generation_from_the_cache_equals_argmax_of_recomputation():
    from tfmodels.decoding.generation import compiled_generate, make_sampler

    model = small_gpt()
    tokens, mask = _prompts([2, 4, 5], T)
    generated = np.asarray(compiled_generate(model, make_sampler("greedy"))(tokens, mask))
    np.testing.assert_array_equal(generated[mask], tokens[mask])  # the prompts are kept
    expected = tokens.copy()
    for row, n in enumerate([2, 4, 5]):  # the slow way: the whole prefix again for every new token
        for index in range(n, T):
            logits = np.asarray(model(expected[row:row + 1, :index]))
            expected[row, index] = int(np.argmax(logits[0, -1]))
    np.testing.assert_array_equal(generated, expected)
    again = np.asarray(compiled_generate(model, make_sampler("greedy"))(tokens, mask))
    np.testing.assert_array_equal(again, generated)  # greedy is deterministic


@pytest.mark.parametrize("name", ["top_k", "top_p", "random"])
def test_sampling_with_a_seed_is_reproducible(name):
    from tfmodels.decoding.generation import generate_ids, make_sampler

    model = small_gpt()
    tokens, mask = _prompts([3, 3, 6], T)
    runs = [np.asarray(generate_ids(model, tokens, mask, make_sampler(name, temperature=1.5, seed=seed)))
            for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("name", ["greedy", "beam", "top_k", "top_p", "random"])
def test_every_sampler_runs_in_the_xla_compiled_loop(name):
    # `tfmodels generate` compiles the decoding loop with XLA: the same tokens as the plain graph
    # (greedy, beam), and one seed one text (the random samplers).
    from tfmodels.decoding.generation import compiled_generate, make_sampler

    model = small_gpt()
    tokens, mask = _prompts([3, 3, 6], T)
    sampler = lambda seed: make_sampler(name, temperature=1.5, seed=seed)  # noqa: E731
    xla = [np.asarray(compiled_generate(model, sampler(seed), jit_compile=True)(tokens, mask)) for seed in (7, 7)]
    np.testing.assert_array_equal(xla[0], xla[1])
    assert np.array_equal(xla[0][mask], tokens[mask])  # the prompts kept
    if name in ("greedy", "beam"):
        graph = np.asarray(compiled_generate(model, sampler(7))(tokens, mask))
        np.testing.assert_array_equal(xla[0], graph)


def test_the_training_samples_slide_as_the_exported_generate_and_keep_a_seed():
    """`text_sampler` (TensorBoard's samples, one XLA program a pass) against `generate_in_blocks` (the
    SavedModel's graph loop): greedy (temperature 0), the same tokens through 40 new tokens in a block
    of 16 (passes that slide); sampled, one seed one text, another seed another."""
    import tensorflow as tf

    from tfmodels.decoding.generation import generate_in_blocks, text_sampler

    model, block = small_gpt(), T + 4
    prompt = [int(i) for i in TOKENS[0, :3]]
    greedy = text_sampler(model, block, temperature=0.0)(prompt, 40, seed=1)
    exported, _ = generate_in_blocks(model, tf.constant(prompt), tf.constant(40), block, tf.constant(0.0), tf.constant(1))
    assert len(greedy) == 40 and greedy == exported.numpy().tolist()
    sample = text_sampler(model, block, temperature=1.5)
    runs = [sample(prompt, 40, seed) for seed in (7, 7, 8)]
    assert runs[0] == runs[1] and runs[0] != runs[2] and len(runs[2]) == 40


def test_the_compiled_one_token_step_is_one_program_for_every_position():
    """Streaming (`decoding.streaming`) compiles `call_with_cache` for one token: the position must be an
    input of that program, not a constant of it (a sliced position table made it one: a compilation a token)."""
    import tensorflow as tf

    model = small_gpt()
    step = tf.function(lambda token, cache, index: model.call_with_cache(token, cache, index)[0], jit_compile=True)
    token, cache = tf.constant([[1]], tf.int32), model.init_cache(1, T + 4)
    programs = [step.experimental_get_compiler_ir(token, cache, tf.constant(i))(stage="hlo") for i in (3, 4)]
    assert programs[0] == programs[1]
