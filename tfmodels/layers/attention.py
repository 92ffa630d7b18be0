"""Multi-head self-attention, computed as the paper writes it: softmax(Q K^T / sqrt(d_k)) V; optionally
causal (GPT), with a key/value cache for decoding one token at a time."""

from __future__ import annotations

import math

import keras
from keras import ops

from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention over a sequence, with a padding mask on the keys, and a causal mask if asked.

    The queries, keys and values come from one projection (`c_attn`, width -> 3 x width), are split
    into `num_heads` heads of `width / num_heads` each, attend, and are projected back (`c_proj`).

    Causal: position t attends to positions <= t only. With a `cache` (B, 2, S, nh, hs) of keys and
    values (as keras-hub's `CachedMultiHeadAttention`), the T new tokens are written into it at
    `cache_update_index` and attend to the S cached positions up to their own; the call then
    returns the updated cache too.

    Args:
        num_heads: number of attention heads; must divide the input width.
        dropout: dropout rate on the attention weights.
        kernel_initializer: initializer of both projections (each gets its own copy, so their weights differ).
        causal: mask the future (a decoder) or not (an encoder).
        use_bias: biases in the projections.
        output_initializer: initializer of `c_proj` (GPT-2 scales its residual projections); None:
            `kernel_initializer`.
    """

    def __init__(self, num_heads, dropout=0.0, kernel_initializer="glorot_uniform", causal=False, use_bias=True,
                 output_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.causal = bool(causal)
        self.use_bias = bool(use_bias)
        self.output_initializer = keras.initializers.get(output_initializer or kernel_initializer)

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
                                         use_bias=self.use_bias, dtype=self.dtype_policy, name="c_attn")
        self.c_attn.build(input_shape)
        self.c_proj = keras.layers.Dense(width, kernel_initializer=clone_initializer(self.output_initializer),
                                         use_bias=self.use_bias, dtype=self.dtype_policy, name="c_proj")
        self.c_proj.build(input_shape)
        self.attn_dropout = Dropout16(self.dropout, dtype=self.dtype_policy, name="attn_dropout")
        self.built = True

    def call(self, x, padding_mask=None, training=False, return_attention_scores=False, cache=None,
             cache_update_index=None, sequence_length=None):
        # x: (B, T, C), or (B*T, C) with sequence_length = T (an encoder block's residual stream as a matrix).
        length = ops.shape(x)[1] if sequence_length is None else sequence_length
        heads, head_dim = self.num_heads, self.head_dim

        # Project to queries, keys and values, and split the width into heads.
        q, k, v = (ops.reshape(t, (-1, length, heads, head_dim))
                   for t in ops.split(self.c_attn(x), 3, axis=-1))  # 3 x (B, T, nh, hs)
        start = 0
        if cache is not None:  # write the new keys and values at cache_update_index; attend to all S
            start = 0 if cache_update_index is None else cache_update_index
            k = ops.slice_update(cache[:, 0], [0, start, 0, 0], ops.cast(k, cache.dtype))  # (B, S, nh, hs)
            v = ops.slice_update(cache[:, 1], [0, start, 0, 0], ops.cast(v, cache.dtype))
            cache = ops.stack((k, v), axis=1)  # (B, 2, S, nh, hs)
            k, v = ops.cast(k, q.dtype), ops.cast(v, q.dtype)
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))  # (B, nh, T, hs), 2 x (B, nh, S, hs)

        # Scaled dot-product scores; masked keys get -1e9, hence zero weight after the softmax.
        # The softmax is computed in float32 also under mixed precision.
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(head_dim)  # (B, nh, T, S)
        scores = ops.cast(scores, "float32")
        allowed = None
        if padding_mask is not None:
            allowed = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
        if self.causal:  # query i sits at position start + i; it sees keys j <= start + i
            query_position = ops.arange(length)[:, None] + start  # (T, 1)
            key_position = ops.arange(ops.shape(k)[2])[None, :]  # (1, S)
            future = ops.greater(key_position, query_position)[None, None]  # (1, 1, T, S)
            allowed = ops.logical_not(future) if allowed is None else ops.logical_and(allowed, ops.logical_not(future))
        if allowed is not None:
            scores = ops.where(allowed, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)  # (B, nh, T, S), each row sums to 1

        # Weighted sum of the values, heads joined back into the width.
        y = ops.matmul(self.attn_dropout(ops.cast(weights, v.dtype), training=training), v)  # (B, nh, T, hs)
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), ops.shape(x)[:-1] + (heads * head_dim,))  # x's shape
        y = self.c_proj(ops.cast(y, self.compute_dtype))  # (B, T, C) or (B*T, C)
        outputs = (y, weights) if return_attention_scores else (y,)
        outputs += (cache,) if cache is not None else ()
        return outputs if len(outputs) > 1 else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "causal": self.causal,
            "use_bias": self.use_bias,
            "output_initializer": keras.initializers.serialize(self.output_initializer),
        })
        return config
