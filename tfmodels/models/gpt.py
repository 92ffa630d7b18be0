"""A GPT-2-style causal language model (Radford et al. 2019), in nanoGPT's names and order."""

from __future__ import annotations

import math

import keras
import keras_hub
from keras import ops

from tfmodels.layers import DecoderBlock, Dropout16
from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class GPT(keras.Model):
    """`token_ids (B, T)` -> next-token logits `(B, T, V)`: the logits at t depend on tokens <= t only.

    wte + wpe -> dropout -> `num_layers` x DecoderBlock (`h_i`) -> ln_f -> lm_head. With
    `tie_weights` the output projection is the token embedding's transpose (GPT-2), else its own
    matrix. GPT-2's initialisation: every weight normal(0, 0.02), the projections back into the
    residual stream normal(0, 0.02 / sqrt(2 x layers)), biases zero.

    For generation, `call_with_cache(token_ids, cache, index)` runs the T tokens at positions
    index .. index + T - 1 against a key/value cache (`init_cache`), as keras-hub's
    `GPT2CausalLM.call_with_cache`, so each new token costs one position, not the whole prefix.

    Args:
        vocabulary_size: number of token ids V.
        block_size: the longest context (size of the position table).
        width: model width C (GPT-2's n_embd); a multiple of num_heads.
        num_layers: decoder blocks (n_layer).
        num_heads: attention heads (n_head).
        ffn_dim: MLP inner width; None: 4 x width.
        dropout: on embeddings, attention weights and sub-block outputs.
        use_bias: biases in the projections and layer norms (nanoGPT's `bias`).
        tie_weights: lm_head shares the token embedding.
        padding_id: a token id that is padding (masked as a key), or None when every id is a token.
        layer_norm_epsilon: epsilon of every layer norm.
        activation: MLP activation (GPT-2: the tanh GELU).
    """

    def __init__(self, vocabulary_size, block_size, width=128, num_layers=4, num_heads=4, ffn_dim=None, dropout=0.0,
                 use_bias=True, tie_weights=True, padding_id=None, layer_norm_epsilon=1e-5,
                 activation="gelu_approximate", **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}; choose a multiple of num_heads")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.vocabulary_size = int(vocabulary_size)
        self.block_size = int(block_size)
        self.width = int(width)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim or 4 * width)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.tie_weights = bool(tie_weights)
        self.padding_id = None if padding_id is None else int(padding_id)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.activation = activation

    def build(self, input_shape):
        policy = self.dtype_policy
        normal = keras.initializers.RandomNormal(stddev=0.02)
        residual = keras.initializers.RandomNormal(stddev=0.02 / math.sqrt(2 * self.num_layers))
        # Keras's class itself (keras-hub's is a subclass of it): `model.quantize` converts exact types only.
        self.wte = keras.layers.ReversibleEmbedding(self.vocabulary_size, self.width, tie_weights=self.tie_weights,
                                                        embeddings_initializer=clone_initializer(normal), reverse_dtype=None,
                                                        dtype=policy, name="wte")
        self.wte.build(input_shape)
        hidden_shape = (*input_shape, self.width)
        self.wpe = keras_hub.layers.PositionEmbedding(self.block_size, initializer=clone_initializer(normal), dtype=policy,
                                                      name="wpe")
        self.wpe.build(hidden_shape)
        self.drop = Dropout16(self.dropout, dtype=policy, name="drop")
        self.blocks = []
        for i in range(self.num_layers):
            block = DecoderBlock(self.num_heads, self.ffn_dim, dropout=self.dropout, activation=self.activation,
                                 use_bias=self.use_bias, layer_norm_epsilon=self.layer_norm_epsilon,
                                 kernel_initializer=normal, output_initializer=residual, dtype=policy, name=f"h_{i}")
            block.build(hidden_shape)
            self.blocks.append(block)
        self.ln_f = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, center=self.use_bias,
                                                    dtype=policy, name="ln_f")
        self.ln_f.build(hidden_shape)
        self.built = True

    def padding_mask(self, token_ids):
        if self.padding_id is None:
            return None
        return ops.not_equal(token_ids, self.padding_id)  # (B, T), True at real tokens

    def lm_head(self, x):
        return ops.cast(self.wte(x, reverse=True), "float32")  # (B, T, C) -> (B, T, V), logits in float32

    def call(self, token_ids, padding_mask=None, training=False, return_attention_scores=False):
        mask = self.padding_mask(token_ids) if padding_mask is None else padding_mask
        tok = ops.cast(self.wte(token_ids), self.compute_dtype)  # (B, T, C) (int8 embeddings return float32)
        x = self.drop(tok + self.wpe(tok), training=training)  # (B, T, C)
        attention_scores = []
        for block in self.blocks:
            x, scores = block(x, padding_mask=mask, training=training, return_attention_scores=True)
            attention_scores.append(scores)  # (B, nh, T, T), zero above the diagonal
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return (logits, attention_scores) if return_attention_scores else logits

    def init_cache(self, batch_size, max_length=None):
        """Zeros of shape (B, layers, 2, S, heads, head size), S = max_length or block_size."""
        length = self.block_size if max_length is None else max_length
        shape = (batch_size, self.num_layers, 2, length, self.num_heads, self.width // self.num_heads)
        return ops.zeros(shape, dtype=self.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_update_index, padding_mask=None):
        """The T tokens `token_ids` (B, T) at positions cache_update_index...: (logits (B, T, V),
        hidden states (B, T, C), the cache with their keys and values written in)."""
        tok = ops.cast(self.wte(token_ids), self.compute_dtype)  # (B, T, C) (int8 embeddings return float32)
        # The positions looked up, not sliced from `cache_update_index`: XLA takes a slice's start as a
        # constant, so a compiled one-token step would compile again for every position.
        positions = cache_update_index + ops.arange(ops.shape(token_ids)[1])  # (T,)
        x = tok + self.wpe(tok, positions=positions)  # (B, T, C)
        caches = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, padding_mask=padding_mask, cache=cache[:, i],
                                   cache_update_index=cache_update_index)  # (B, T, C), (B, 2, S, nh, hs)
            caches.append(layer_cache)
        hidden = self.ln_f(x)  # (B, T, C)
        return self.lm_head(hidden), hidden, ops.stack(caches, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "block_size": self.block_size,
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "tie_weights": self.tie_weights,
            "padding_id": self.padding_id,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "activation": self.activation,
        })
        return config
