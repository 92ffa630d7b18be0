"""Layer normalization (Ba et al. 2016) over the last axis, with its gradient written out.

y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta, the statistics taken over the features of each
vector, computed in float32 whatever the input's precision.

Why not differentiate `keras.layers.LayerNormalization` automatically: its backward pass is a chain of
some twenty small loops (one per op of the forward pass and its float32 casts), which XLA's CPU backend
runs partly on one thread. Written out, the backward pass is one expression of x, dy and the two saved
statistics (mean and 1/std, one number each per vector):

    x^ = (x - mean) / std,  g = dy * gamma
    dx = (g - mean(g) - x^ * mean(g * x^)) / std,  dgamma = sum(dy * x^),  dbeta = sum(dy)

(means over the features, sums over the vectors). Measured in docs/performance.md.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def layer_norm(x, gamma, beta, epsilon):
    """Normalize `x` (..., C) over its last axis; `gamma`, `beta`: (C,) (beta None: no offset). The result has
    `x`'s dtype."""

    @tf.custom_gradient
    def normalize(x, gamma, beta):
        shape, features = tf.shape(x), tf.shape(x)[-1]
        x2 = tf.cast(tf.reshape(x, (-1, features)), tf.float32)  # (N, C): every vector a row
        mean = tf.reduce_mean(x2, axis=-1, keepdims=True)  # (N, 1)
        centred = x2 - mean
        inv_std = tf.math.rsqrt(tf.reduce_mean(centred * centred, axis=-1, keepdims=True) + epsilon)  # (N, 1)
        gamma32, beta32 = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
        y = centred * inv_std * gamma32 + beta32

        def grad(dy):
            # x is read again here rather than x^ kept from above (one (N, C) tensor less to store); the
            # dependency on dy keeps TensorFlow's graph optimizer from merging the two computations.
            with tf.control_dependencies([dy]):
                x_again = tf.identity(x)
            x_hat = (tf.cast(tf.reshape(x_again, (-1, features)), tf.float32) - mean) * inv_std  # (N, C)
            dy2 = tf.cast(tf.reshape(dy, (-1, features)), tf.float32)
            g = dy2 * gamma32
            dx = inv_std * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                            - x_hat * tf.reduce_mean(g * x_hat, axis=-1, keepdims=True))
            dgamma = tf.reduce_sum(dy2 * x_hat, axis=0)
            dbeta = tf.reduce_sum(dy2, axis=0)
            return tf.reshape(tf.cast(dx, x.dtype), shape), tf.cast(dgamma, gamma.dtype), tf.cast(dbeta, beta.dtype)

        return tf.reshape(tf.cast(y, x.dtype), shape), grad

    # Values, not variables: the gradient reaches the variables through the reads. No beta: an offset of zeros.
    gamma = tf.convert_to_tensor(gamma)
    return normalize(x, gamma, tf.zeros_like(gamma) if beta is None else tf.convert_to_tensor(beta))


@keras.saving.register_keras_serializable(package="tfmodels")
class LayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` (same arguments, weights and config) computed by `layer_norm` in
    training, when it normalizes the last axis with a scale, as every Transformer here does (with or without
    an offset: GPT-2 has one, nanoGPT's `bias=False` not). Otherwise, and for inference, Keras's own: an
    exported model holds the ops the LiteRT and ONNX converters know."""

    def call(self, inputs, training=None):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        last = len(inputs.shape) - 1
        if not training or axes not in ([-1], [last]) or self.rms_scaling or not self.scale:
            return super().call(inputs)
        beta = self.beta if self.center else None
        return tf.cast(layer_norm(inputs, self.gamma, beta, self.epsilon), self.compute_dtype)
