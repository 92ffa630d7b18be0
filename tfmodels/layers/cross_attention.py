"""Multi-head cross-attention (Vaswani et al. 2017, the decoder's "encoder-decoder attention"): the queries
come from the decoder, the keys and values from the encoder's output."""

from __future__ import annotations

import math

import keras
from keras import ops

from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class MultiHeadCrossAttention(keras.layers.Layer):
    """softmax(Q K^T / sqrt(d_k)) V with Q = x W_q (the decoder's T positions) and K, V = memory W_kv (the
    encoder's S positions); padding in the source is masked out of the keys.

    The keys and values depend on the source alone, so a decoder computes them once per source
    (`key_values(memory)` -> (B, 2, S, nh, hs)) and reuses them at every decoding step.

    Args:
        num_heads: attention heads; must divide the width.
        dropout: dropout on the attention weights.
        kernel_initializer: initializer of the three projections (each its own copy).
        use_bias: biases in the projections.
    """

    def __init__(self, num_heads, dropout=0.0, kernel_initializer="glorot_uniform", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        width = int(input_shape[-1])
        if width % self.num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {self.num_heads}; choose a width that is a "
                             "multiple of num_heads")
        self.width, self.head_dim = width, width // self.num_heads
        dense = lambda units, name: keras.layers.Dense(  # noqa: E731
            units, kernel_initializer=clone_initializer(self.kernel_initializer), use_bias=self.use_bias,
            dtype=self.dtype_policy, name=name)
        self.q_proj = dense(width, "q_proj")
        self.kv_proj = dense(2 * width, "kv_proj")
        self.c_proj = dense(width, "c_proj")
        for layer in (self.q_proj, self.kv_proj, self.c_proj):
            layer.build(input_shape)
        self.attn_dropout = Dropout16(self.dropout, dtype=self.dtype_policy, name="attn_dropout")
        self.built = True

    def key_values(self, memory):
        """The encoder's output (B, S, C) -> its keys and values (B, 2, S, nh, hs)."""
        batch, length = ops.shape(memory)[0], ops.shape(memory)[1]
        kv = ops.reshape(self.kv_proj(memory), (batch, length, 2, self.num_heads, self.head_dim))  # (B, S, 2, nh, hs)
        return ops.transpose(kv, (0, 2, 1, 3, 4))  # (B, 2, S, nh, hs)

    def call(self, x, key_values, memory_mask=None, training=False, return_attention_scores=False):
        """`x` (B, T, C) attends to `key_values` (B, 2, S, nh, hs); `memory_mask` (B, S) is True at real
        source tokens."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        q = ops.reshape(self.q_proj(x), (batch, length, self.num_heads, self.head_dim))  # (B, T, nh, hs)
        q = ops.transpose(q, (0, 2, 1, 3))  # (B, nh, T, hs)
        k = ops.transpose(ops.cast(key_values[:, 0], q.dtype), (0, 2, 3, 1))  # (B, nh, hs, S)
        v = ops.transpose(ops.cast(key_values[:, 1], q.dtype), (0, 2, 1, 3))  # (B, nh, S, hs)

        scores = ops.cast(ops.matmul(q, k) / math.sqrt(self.head_dim), "float32")  # (B, nh, T, S)
        if memory_mask is not None:
            scores = ops.where(ops.cast(memory_mask, "bool")[:, None, None, :], scores, -1e9)
        weights = ops.softmax(scores, axis=-1)  # (B, nh, T, S), softmax in float32

        y = ops.matmul(self.attn_dropout(ops.cast(weights, v.dtype), training=training), v)  # (B, nh, T, hs)
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (batch, length, self.width))  # (B, T, C)
        y = self.c_proj(ops.cast(y, self.compute_dtype))
        return (y, weights) if return_attention_scores else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "use_bias": self.use_bias,
        })
        return config
