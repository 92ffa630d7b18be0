"""The layers whose gradients are written out (GELU, layer norm) against Keras's own, values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_layer_test

from tfmodels.layers import LayerNorm, MultiHeadSelfAttention, layer_norm
from tfmodels.layers.activations import gelu, gelu_approximate, get_activation
from tfmodels.models import MaskedLMModel
from tfmodels.networks import TransformerEncoder

RNG = np.random.default_rng(3)
X = (RNG.normal(size=(3, 7, 16)) * 2.0 + 0.5).astype(np.float32)
DY = RNG.normal(size=(3, 7, 16)).astype(np.float32)


def value_and_gradients(f, x, *weights):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * DY[..., : y.shape[-1]])
    return [np.asarray(tf.cast(t, tf.float32)) for t in (y, *tape.gradient(loss, [x, *weights]))]


@pytest.mark.parametrize("ours, approximate", [(gelu_approximate, True), (gelu, False)], ids=["tanh", "erf"])
def test_gelu_and_its_gradient_equal_keras(ours, approximate):
    theirs = value_and_gradients(lambda x: keras.activations.gelu(x, approximate=approximate), X)
    mine = value_and_gradients(ours, X)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert get_activation("gelu_approximate") is gelu_approximate and get_activation("gelu") is gelu


def test_gelu_keeps_bfloat16_in_and_out_and_computes_in_float32():
    x16 = tf.cast(X, tf.bfloat16)
    y, dx = value_and_gradients(gelu_approximate, x16)
    exact = value_and_gradients(lambda x: keras.activations.gelu(x, approximate=True), np.asarray(tf.cast(x16, tf.float32)))
    assert gelu_approximate(x16).dtype == tf.bfloat16
    np.testing.assert_allclose(y, exact[0], rtol=1e-2, atol=1e-2)  # one bfloat16 rounding of each
    np.testing.assert_allclose(dx, exact[1], rtol=1e-2, atol=1e-2)


def test_gelu_gradient_inside_a_compiled_function_equals_eager():
    x = tf.constant(X)
    compiled = tf.function(lambda x: tf.gradients(tf.reduce_sum(gelu_approximate(x) * DY), x)[0], jit_compile=True)
    np.testing.assert_allclose(compiled(x), value_and_gradients(gelu_approximate, X)[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("epsilon, center", [(1e-5, True), (1e-12, True), (1e-5, False)], ids=["gpt2", "bert", "no_beta"])
def test_layer_norm_and_its_gradients_equal_keras(epsilon, center):
    theirs = keras.layers.LayerNormalization(epsilon=epsilon, center=center)
    ours = LayerNorm(epsilon=epsilon, center=center)
    for layer in (theirs, ours):
        layer.build(X.shape)
        layer.gamma.assign(RNG.normal(size=16) + 1.0)
    ours.set_weights(theirs.get_weights())
    expected = value_and_gradients(theirs, X, *theirs.trainable_weights)
    got = value_and_gradients(lambda x: ours(x, training=True), X, *ours.trainable_weights)  # training: layer_norm
    assert len(got) == len(expected) == (4 if center else 3)  # y, dx, dgamma (, dbeta)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_layer_norm_function_normalizes_each_vector():
    y = np.asarray(layer_norm(tf.constant(X), tf.ones(16), tf.zeros(16), 1e-6))
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1.0, atol=1e-3)


def test_layer_norm_under_mixed_bfloat16_returns_bfloat16_close_to_float32():
    ours = LayerNorm(epsilon=1e-12, dtype="mixed_bfloat16")
    reference = keras.layers.LayerNormalization(epsilon=1e-12)
    ours.build(X.shape), reference.build(X.shape)
    for training in (True, False):  # layer_norm, and Keras's own for inference
        y16 = ours(tf.cast(X, tf.bfloat16), training=training)
        assert y16.dtype == tf.bfloat16 and ours.gamma.dtype == "float32"
        np.testing.assert_allclose(np.asarray(tf.cast(y16, tf.float32)), np.asarray(reference(X)), atol=3e-2)


def test_layer_norm_battery(tmp_path):
    run_layer_test(LayerNorm, dict(epsilon=1e-5), X, X.shape, 2, tmp_path, expected_num_params=2 * 16)


def test_attention_on_the_token_matrix_equals_attention_on_the_sequence():
    layer = MultiHeadSelfAttention(num_heads=4)
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False
    y3, w3 = layer(X, padding_mask=mask, return_attention_scores=True)
    y2, w2 = layer(X.reshape(21, 16), padding_mask=mask, return_attention_scores=True, sequence_length=7)
    assert tuple(y2.shape) == (21, 16)
    np.testing.assert_allclose(np.asarray(y2).reshape(3, 7, 16), y3, atol=1e-6)
    np.testing.assert_allclose(w2, w3, atol=1e-7)


def test_masked_lm_projects_to_the_vocabulary_in_bfloat16_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        encoder = TransformerEncoder(vocabulary_size=50, sequence_length=7, width=16, num_layers=1, num_heads=2,
                                     ffn_dim=32, dropout=0.0)
        model = MaskedLMModel(encoder)
        inputs = {"token_ids": RNG.integers(1, 50, (2, 7)), "mask_positions": np.array([[1, 3], [0, 6]])}
        graph = tf.function(lambda x: model(x)).get_concrete_function(
            {k: tf.TensorSpec(v.shape, tf.int64) for k, v in inputs.items()}).graph
        projections = [op for op in graph.get_operations() if op.type in ("MatMul", "BatchMatMulV2")
                       and "token_embedding" in op.name]
        assert projections and all(op.get_attr("T") == tf.bfloat16 for op in projections)
        assert model(inputs).dtype == "float32"  # the logits, for the loss
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
