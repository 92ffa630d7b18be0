"""Multi-head self-attention, computed as the paper writes it: softmax(Q K^T / sqrt(d_k)) V."""

from __future__ import annotations

import math

import keras
from keras import ops

from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention over a sequence, with a padding mask on the keys.

    The queries, keys and values come from one projection (`c_attn`, width -> 3 x width), are split
    into `num_heads` heads of `width / num_heads` each, attend, and are projected back (`c_proj`).

    Args:
        num_heads: number of attention heads; must divide the input width.
        dropout: dropout rate on the attention weights.
        kernel_initializer: initializer of both projections (each gets its own copy, so their weights differ).
    """

    def __init__(self, num_heads, dropout=0.0, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        width = int(input_shape[-1])
        if width % self.num_heads:
            near = max(self.num_heads, round(width / self.num_heads) * self.num_heads)
            raise ValueError(
                f"width {width} is not divisible by num_heads {self.num_heads} (head size would be "
                f"{width / self.num_heads:.2f}); choose a width that is a multiple of num_heads, e.g. {near}"
            )
        self.width = width
        self.head_dim = width // self.num_heads
        self.c_attn = keras.layers.Dense(3 * width, kernel_initializer=clone_initializer(self.kernel_initializer),
                                         dtype=self.dtype_policy, name="c_attn")
        self.c_attn.build(input_shape)
        self.c_proj = keras.layers.Dense(width, kernel_initializer=clone_initializer(self.kernel_initializer),
                                         dtype=self.dtype_policy, name="c_proj")
        self.c_proj.build(input_shape)
        self.attn_dropout = Dropout16(self.dropout, dtype=self.dtype_policy, name="attn_dropout")
        self.built = True

    def call(self, x, padding_mask=None, training=False, return_attention_scores=False):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        heads, head_dim = self.num_heads, self.head_dim

        # Project to queries, keys and values, and split the width into heads.
        q, k, v = ops.split(self.c_attn(x), 3, axis=-1)  # 3 x (B, T, C)
        q, k, v = (ops.transpose(ops.reshape(t, (batch, length, heads, head_dim)), (0, 2, 1, 3))
                   for t in (q, k, v))  # 3 x (B, nh, T, hs)

        # Scaled dot-product scores; padded keys get -1e9, hence zero weight after the softmax.
        # The softmax is computed in float32 also under mixed precision.
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(head_dim)  # (B, nh, T, T)
        scores = ops.cast(scores, "float32")
        if padding_mask is not None:
            keys = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, T)
            scores = ops.where(keys, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)  # (B, nh, T, T), each row sums to 1

        # Weighted sum of the values, heads joined back into the width.
        y = ops.matmul(self.attn_dropout(ops.cast(weights, v.dtype), training=training), v)  # (B, nh, T, hs)
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (batch, length, heads * head_dim))  # (B, T, C)
        y = self.c_proj(y)  # (B, T, C)
        return (y, weights) if return_attention_scores else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
