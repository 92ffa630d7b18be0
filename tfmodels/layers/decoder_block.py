"""One GPT-2 decoder block (Radford et al. 2019): pre-norm causal self-attention and an MLP, each residual."""

from __future__ import annotations

import keras

from tfmodels.layers.activations import get_activation
from tfmodels.layers.attention import MultiHeadSelfAttention
from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class DecoderBlock(keras.layers.Layer):
    """`x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`, the attention causal, as GPT-2 and nanoGPT's `Block`.

    Args:
        num_heads: attention heads; must divide the input width.
        ffn_dim: inner width of the MLP (GPT-2: 4 x width).
        dropout: on the attention weights and on each sub-block's output (GPT-2's `resid_pdrop`).
        activation: the MLP's activation; GPT-2 uses the tanh GELU ("gelu_approximate").
        use_bias: biases in the projections and the layer norms (nanoGPT's `bias`).
        layer_norm_epsilon: epsilon of both layer norms.
        kernel_initializer: of `c_attn` and `c_fc`.
        output_initializer: of the two projections back into the residual stream (`attn.c_proj`,
            `c_proj`); GPT-2 scales their standard deviation by 1 / sqrt(2 x layers).
    """

    def __init__(self, num_heads, ffn_dim, dropout=0.0, activation="gelu_approximate", use_bias=True,
                 layer_norm_epsilon=1e-5, kernel_initializer="glorot_uniform", output_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if ffn_dim < 1:
            raise ValueError(f"ffn_dim must be at least 1, got {ffn_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_initializer = keras.initializers.get(output_initializer or kernel_initializer)

    def build(self, input_shape):
        width, policy = int(input_shape[-1]), self.dtype_policy
        norm = dict(epsilon=self.layer_norm_epsilon, center=self.use_bias, dtype=policy)
        self.ln_1 = keras.layers.LayerNormalization(**norm, name="ln_1")
        self.attn = MultiHeadSelfAttention(self.num_heads, dropout=self.dropout, causal=True, use_bias=self.use_bias,
                                           kernel_initializer=self.kernel_initializer,
                                           output_initializer=self.output_initializer, dtype=policy, name="attn")
        self.attn_out_dropout = Dropout16(self.dropout, dtype=policy, name="attn_out_dropout")
        self.ln_2 = keras.layers.LayerNormalization(**norm, name="ln_2")
        self.c_fc = keras.layers.Dense(self.ffn_dim, activation=get_activation(self.activation), use_bias=self.use_bias,
                                       kernel_initializer=clone_initializer(self.kernel_initializer), dtype=policy,
                                       name="c_fc")
        self.c_proj = keras.layers.Dense(width, use_bias=self.use_bias, dtype=policy, name="c_proj",
                                         kernel_initializer=clone_initializer(self.output_initializer))
        self.mlp_dropout = Dropout16(self.dropout, dtype=policy, name="mlp_dropout")
        for layer in (self.ln_1, self.attn, self.ln_2, self.c_fc):
            layer.build(input_shape)
        self.c_proj.build((*input_shape[:-1], self.ffn_dim))
        self.built = True

    def call(self, x, padding_mask=None, cache=None, cache_update_index=None, training=False,
             return_attention_scores=False):
        # Causal self-attention, on the normed stream, added back to it.
        h, scores, *cache = self.attn(self.ln_1(x), padding_mask=padding_mask, cache=cache,
                                      cache_update_index=cache_update_index, training=training,
                                      return_attention_scores=True)  # (B, T, C), (B, nh, T, S)
        x = x + self.attn_out_dropout(h, training=training)  # (B, T, C)

        # MLP: width -> ffn_dim -> width.
        h = self.c_proj(self.c_fc(self.ln_2(x)))  # (B, T, C)
        x = x + self.mlp_dropout(h, training=training)
        outputs = (x, scores) if return_attention_scores else (x,)
        outputs += tuple(cache)
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
            "use_bias": self.use_bias,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "output_initializer": keras.initializers.serialize(self.output_initializer),
        })
        return config
