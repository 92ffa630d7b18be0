"""One Transformer encoder block: self-attention and a feed-forward network, each with a residual and a norm."""

from __future__ import annotations

import keras
from keras import ops

from tfmodels.layers.activations import get_activation
from tfmodels.layers.attention import MultiHeadSelfAttention
from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.initializers import clone_initializer
from tfmodels.layers.normalization import LayerNorm


@keras.saving.register_keras_serializable(package="tfmodels")
class TransformerEncoderBlock(keras.layers.Layer):
    """Pre-norm (`x + f(LN(x))`, GPT-2) or post-norm (`LN(x + f(x))`, the original Transformer and BERT).

    Args:
        num_heads: attention heads; must divide the input width (head size = width / num_heads).
        ffn_dim: inner width of the feed-forward network.
        dropout: dropout on the attention weights and on each sub-block's output.
        activation: the feed-forward activation (a Keras name, or "gelu_approximate" as BERT).
        norm_first: True for pre-norm, False for post-norm.
        layer_norm_epsilon: epsilon of both layer norms.
        kernel_initializer: initializer of every kernel (attention and feed-forward; biases start at zero).
    """

    def __init__(self, num_heads, ffn_dim, dropout=0.1, activation="gelu", norm_first=True,
                 layer_norm_epsilon=1e-5, kernel_initializer="glorot_uniform", **kwargs):
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
        width = int(input_shape[-1])
        policy = self.dtype_policy
        self.ln_1 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_1")
        self.attn = MultiHeadSelfAttention(self.num_heads, dropout=self.dropout,
                                           kernel_initializer=self.kernel_initializer, dtype=policy, name="attn")
        self.attn_out_dropout = Dropout16(self.dropout, dtype=policy, name="attn_out_dropout")
        self.ln_2 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_2")
        self.c_fc = keras.layers.Dense(self.ffn_dim, activation=get_activation(self.activation),
                                       kernel_initializer=clone_initializer(self.kernel_initializer), dtype=policy,
                                       name="c_fc")
        self.c_proj = keras.layers.Dense(width, kernel_initializer=clone_initializer(self.kernel_initializer),
                                         dtype=policy, name="c_proj")
        self.ffn_dropout = Dropout16(self.dropout, dtype=policy, name="ffn_dropout")
        for layer in (self.ln_1, self.attn, self.ln_2, self.c_fc):
            layer.build(input_shape)
        self.c_proj.build((*input_shape[:-1], self.ffn_dim))
        self.built = True

    def call(self, x, padding_mask=None, training=False, return_attention_scores=False):
        shape = ops.shape(x)  # (B, T, C)
        # The residual stream as a matrix, a token a row: each Dense is then one matrix product, and every
        # element-wise step (bias, dropout, residual, norm, GELU and their gradients) sees one view of its
        # operands (XLA's CPU backend runs a loop that mixes (B, T, C) and (B*T, C) views on one thread).
        x = ops.reshape(x, (-1, shape[-1]))  # (B*T, C)

        # Self-attention sub-block.
        h = self.ln_1(x) if self.norm_first else x
        h, scores = self.attn(h, padding_mask=padding_mask, training=training, return_attention_scores=True,
                              sequence_length=shape[1])
        x = x + self.attn_out_dropout(h, training=training)  # (B*T, C)
        if not self.norm_first:
            x = self.ln_1(x)

        # Feed-forward sub-block.
        h = self.ln_2(x) if self.norm_first else x
        h = self.c_proj(self.c_fc(h))  # (B*T, ffn) -> (B*T, C)
        x = x + self.ffn_dropout(h, training=training)
        if not self.norm_first:
            x = self.ln_2(x)
        x = ops.reshape(x, shape)  # (B, T, C)
        return (x, scores) if return_attention_scores else x  # (B, T, C), (B, nh, T, T)

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
