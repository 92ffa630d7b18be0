"""The feed-forward activations of the Transformer's layers: GELU in its two forms, by name."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

# GELU (Hendrycks & Gimpel 2016) with a backward pass that recomputes, from the input alone, what
# automatic differentiation would have kept: for the tanh form x^3, the tanh and three products, each as
# large as the feed-forward network's hidden layer (B, T, 4C), written in the forward pass and read
# again in the backward one. Keeping only x trades those tensors for one more tanh in the backward pass:
# -5 ms a layer in the reference encoder's bfloat16 step (docs/performance.md). The derivative is the
# same function's, computed in float32 whatever the input's precision.
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)
_GELU_CUBIC = 0.044715


def _recomputed(x, dy):
    """x and dy in float32 as matrices (rows, features), x read again in the backward pass.

    Read after `dy` exists: without that dependency TensorFlow's graph optimizer merges the recomputation
    with the forward pass's identical ops, and keeps their float32 results after all. As matrices: the
    gradient arrives from a matrix product as one, and XLA's CPU backend runs a loop that mixes a (B, T, F)
    and a (B*T, F) view of its operands on one thread only (measured: 10.4 ms against 3.3 ms).
    """
    with tf.control_dependencies([dy]):
        x = tf.identity(x)
    features = tf.shape(x)[-1]
    return tf.cast(tf.reshape(x, (-1, features)), tf.float32), tf.cast(tf.reshape(dy, (-1, features)), tf.float32)


@tf.custom_gradient
def _gelu_tanh(x):
    # The forward pass is TensorFlow's own op, which the LiteRT and ONNX converters know as GELU.
    y = tf.nn.gelu(tf.cast(x, tf.float32), approximate=True)

    def grad(dy):
        x32, dy32 = _recomputed(x, dy)
        t = tf.tanh(_SQRT_2_OVER_PI * (x32 + _GELU_CUBIC * x32 * x32 * x32))
        dt = (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x32 * x32)  # d tanh(u) / dx
        return tf.reshape(tf.cast(dy32 * (0.5 * (1.0 + t) + 0.5 * x32 * dt), x.dtype), tf.shape(x))

    return tf.cast(y, x.dtype), grad


@tf.custom_gradient
def _gelu_erf(x):
    y = tf.nn.gelu(tf.cast(x, tf.float32), approximate=False)  # x Phi(x), as above TensorFlow's own op

    def grad(dy):
        x32, dy32 = _recomputed(x, dy)
        cdf = 0.5 * (1.0 + tf.math.erf(x32 / _SQRT_2))
        pdf = tf.exp(-0.5 * x32 * x32) / math.sqrt(2.0 * math.pi)  # phi(x)
        return tf.reshape(tf.cast(dy32 * (cdf + x32 * pdf), x.dtype), tf.shape(x))

    return tf.cast(y, x.dtype), grad


@keras.saving.register_keras_serializable(package="tfmodels")
def gelu_approximate(x):
    """GELU with the tanh approximation, as BERT's and GPT-2's feed-forward networks use it:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return _gelu_tanh(x)


@keras.saving.register_keras_serializable(package="tfmodels")
def gelu(x):
    """GELU, x Phi(x) with Phi the standard normal CDF (Keras's "gelu"), keeping only x for its gradient."""
    return _gelu_erf(x)


def get_activation(name):
    """A Keras activation by name, or "gelu_approximate"; both GELUs are the ones above."""
    if name == "gelu_approximate":
        return gelu_approximate
    if name == "gelu":
        return gelu
    return keras.activations.get(name)
