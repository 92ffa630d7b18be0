"""One decoder block of the encoder-decoder Transformer (Vaswani et al. 2017): causal self-attention,
cross-attention to the encoder's output, a feed-forward network; each with a residual and a layer norm."""

from __future__ import annotations

import keras

from tfmodels.layers.activations import get_activation
from tfmodels.layers.attention import MultiHeadSelfAttention
from tfmodels.layers.cross_attention import MultiHeadCrossAttention
from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class TransformerDecoderBlock(keras.layers.Layer):
    """Pre-norm (`x + f(LN(x))`) or post-norm (`LN(x + f(x))`, the paper's) sub-blocks, in the paper's order:

        x = x + self_attn(x)                       causal: position t sees targets <= t
        x = x + cross_attn(x, encoder output)      every position sees the whole source (padding masked)
        x = x + ffn(x)

    With a `cache` (B, 2, S, nh, hs) of the self-attention's keys and values, the T new positions are
    written into it at `cache_update_index` and the updated cache is returned too (decoding one token
    at a time); the cross-attention's keys and values (`cross_key_values`, from the encoder's output)
    are computed once per source by the caller.

    Args: as `TransformerEncoderBlock` (num_heads, ffn_dim, dropout, activation, norm_first,
        layer_norm_epsilon, kernel_initializer).
    """

    def __init__(self, num_heads, ffn_dim, dropout=0.1, activation="relu", norm_first=True, layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if ffn_dim < 1:
            raise ValueError(f"ffn_dim must be at least 1, got {ffn_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        self.activation = activation
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        width, policy = int(input_shape[-1]), self.dtype_policy
        norm = lambda name: keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy,  # noqa: E731
                                                            name=name)
        self.ln_1, self.ln_2, self.ln_3 = norm("ln_1"), norm("ln_2"), norm("ln_3")
        self.self_attn = MultiHeadSelfAttention(self.num_heads, dropout=self.dropout, causal=True,
                                                kernel_initializer=self.kernel_initializer, dtype=policy,
                                                name="self_attn")
        self.cross_attn = MultiHeadCrossAttention(self.num_heads, dropout=self.dropout,
                                                  kernel_initializer=self.kernel_initializer, dtype=policy,
                                                  name="cross_attn")
        self.c_fc = keras.layers.Dense(self.ffn_dim, activation=get_activation(self.activation),
                                       kernel_initializer=clone_initializer(self.kernel_initializer), dtype=policy,
                                       name="c_fc")
        self.c_proj = keras.layers.Dense(width, kernel_initializer=clone_initializer(self.kernel_initializer),
                                         dtype=policy, name="c_proj")
        self.dropouts = [Dropout16(self.dropout, dtype=policy, name=f"dropout_{i}") for i in range(3)]
        for layer in (self.ln_1, self.ln_2, self.ln_3, self.self_attn, self.cross_attn, self.c_fc):
            layer.build(input_shape)
        self.c_proj.build((*input_shape[:-1], self.ffn_dim))
        self.built = True

    def cross_key_values(self, memory):
        return self.cross_attn.key_values(memory)  # (B, 2, S, nh, hs)

    def _residual(self, x, norm, f, dropout, training):
        h = f(norm(x) if self.norm_first else x)
        x = x + dropout(h, training=training)
        return x if self.norm_first else norm(x)

    def call(self, x, cross_key_values, memory_mask=None, padding_mask=None, cache=None, cache_update_index=None,
             training=False, return_attention_scores=False):
        """x (B, T, C) -> (B, T, C) [, self-attention weights (B, nh, T, T), cross-attention weights
        (B, nh, T, S)] [, the updated cache]."""
        found = {}

        def self_attention(h):
            y, found["self"], *found["cache"] = self.self_attn(
                h, padding_mask=padding_mask, cache=cache, cache_update_index=cache_update_index, training=training,
                return_attention_scores=True)
            return y

        def cross_attention(h):
            y, found["cross"] = self.cross_attn(h, cross_key_values, memory_mask=memory_mask, training=training,
                                                return_attention_scores=True)
            return y

        x = self._residual(x, self.ln_1, self_attention, self.dropouts[0], training)  # (B, T, C)
        x = self._residual(x, self.ln_2, cross_attention, self.dropouts[1], training)
        x = self._residual(x, self.ln_3, lambda h: self.c_proj(self.c_fc(h)), self.dropouts[2], training)
        outputs = (x, found["self"], found["cross"]) if return_attention_scores else (x,)
        outputs += tuple(found["cache"])
        return outputs if len(outputs) > 1 else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "norm_first": self.norm_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
