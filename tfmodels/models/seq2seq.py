"""The encoder-decoder Transformer (Vaswani et al. 2017, "Attention Is All You Need"), for translation and
summarization: the encoder reads the source, the decoder writes the target one token at a time."""

from __future__ import annotations

import math

import keras
import keras_hub
from keras import ops

from tfmodels.layers import Dropout16, TransformerDecoderBlock, TransformerEncoderBlock


@keras.saving.register_keras_serializable(package="tfmodels")
class Seq2SeqTransformer(keras.Model):
    """`{"source_ids": (B, S), "target_ids": (B, T)}` -> next-token logits `(B, T, V)`: the logits at t
    depend on the whole source and on targets <= t only; source padding changes nothing.

        source -> wte_source * sqrt(C) + wpe_source -> dropout -> encoder blocks (enc_h_i) -> ln_enc
        target -> wte * sqrt(C) + wpe_target -> dropout -> decoder blocks (dec_h_i: causal self-attention,
                  cross-attention to the encoder's output, feed-forward) -> ln_f -> lm_head

    With `share_embeddings` the source and the target use one token embedding (one vocabulary for
    both, the paper's shared BPE); with `tie_weights` the output projection is that embedding's
    transpose (the paper's weight tying, Press and Wolf 2017). Padding (`padding_id`) is masked out of
    every attention's keys.

    For decoding: `encode` once per source, `cross_key_values` once per source (every decoder block's
    cross-attention keys and values), then `call_with_cache` one target token at a time against the
    self-attention cache (`init_cache`), as the GPT's.

    Args:
        source_vocabulary_size, target_vocabulary_size: token ids of each side (equal when shared).
        source_length, target_length: the longest source and target (sizes of the position tables).
        width: model width C (d_model); a multiple of num_heads.
        encoder_layers, decoder_layers: blocks of each (the paper: 6 and 6).
        num_heads: attention heads of every attention (h).
        ffn_dim: feed-forward inner width (d_ff).
        dropout: on the embeddings, attention weights and sub-block outputs (P_drop).
        activation: feed-forward activation (the paper: ReLU).
        norm_first: pre-norm blocks (True) or the paper's post-norm (False).
        padding_id: the id of padding, on both sides.
        share_embeddings: one token embedding for source and target.
        tie_weights: the output projection is the target embedding.
        layer_norm_epsilon: of every layer norm.
    """

    def __init__(self, source_vocabulary_size, target_vocabulary_size, source_length, target_length, width=256,
                 encoder_layers=3, decoder_layers=3, num_heads=4, ffn_dim=1024, dropout=0.1, activation="relu",
                 norm_first=True, padding_id=0, share_embeddings=True, tie_weights=True, layer_norm_epsilon=1e-5,
                 **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}; choose a multiple of num_heads")
        if encoder_layers < 1 or decoder_layers < 1:
            raise ValueError(f"encoder_layers and decoder_layers must be at least 1, got {encoder_layers}, {decoder_layers}")
        if share_embeddings and source_vocabulary_size != target_vocabulary_size:
            raise ValueError(f"share_embeddings needs one vocabulary for both sides; got {source_vocabulary_size} "
                             f"source and {target_vocabulary_size} target token ids")
        self.source_vocabulary_size = int(source_vocabulary_size)
        self.target_vocabulary_size = int(target_vocabulary_size)
        self.source_length = int(source_length)
        self.target_length = int(target_length)
        self.width = int(width)
        self.encoder_layers = int(encoder_layers)
        self.decoder_layers = int(decoder_layers)
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        self.activation = activation
        self.norm_first = bool(norm_first)
        self.padding_id = int(padding_id)
        self.share_embeddings = bool(share_embeddings)
        self.tie_weights = bool(tie_weights)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def build(self, input_shape=None):
        policy, C = self.dtype_policy, self.width
        # Embeddings scaled by sqrt(C) (the paper's section 3.4) start at normal(0, C^-1/2): unit-variance
        # inputs, and tied output logits of unit scale.
        embedding = lambda vocabulary, name: keras.layers.ReversibleEmbedding(  # noqa: E731
            vocabulary, C, tie_weights=self.tie_weights, reverse_dtype=None,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=C ** -0.5), dtype=policy, name=name)
        self.wte = embedding(self.target_vocabulary_size, "wte")  # the target's (and the source's, when shared)
        self.wte.build((None, None))
        self.wte_source = None
        if not self.share_embeddings:
            self.wte_source = embedding(self.source_vocabulary_size, "wte_source")
            self.wte_source.build((None, None))
        normal = keras.initializers.RandomNormal(stddev=0.02)
        self.wpe_source = keras_hub.layers.PositionEmbedding(self.source_length, initializer=normal, dtype=policy,
                                                             name="wpe_source")
        self.wpe_target = keras_hub.layers.PositionEmbedding(self.target_length, initializer=normal, dtype=policy,
                                                             name="wpe_target")
        hidden = (None, None, C)
        self.wpe_source.build(hidden)
        self.wpe_target.build(hidden)
        self.drop = Dropout16(self.dropout, dtype=policy, name="drop")
        block = dict(num_heads=self.num_heads, ffn_dim=self.ffn_dim, dropout=self.dropout, activation=self.activation,
                     norm_first=self.norm_first, layer_norm_epsilon=self.layer_norm_epsilon, dtype=policy)
        self.encoder_blocks = [TransformerEncoderBlock(**block, name=f"enc_h_{i}") for i in range(self.encoder_layers)]
        self.decoder_blocks = [TransformerDecoderBlock(**block, name=f"dec_h_{i}") for i in range(self.decoder_layers)]
        for b in (*self.encoder_blocks, *self.decoder_blocks):
            b.build(hidden)
        # Pre-norm stacks end with a norm; post-norm blocks end with one already (identity here: kept as a
        # layer so that both kinds have the same weights' names).
        self.ln_enc = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_enc")
        self.ln_f = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_f")
        self.ln_enc.build(hidden)
        self.ln_f.build(hidden)
        self.built = True

    @property
    def token_embedding(self):
        return self.wte

    # --- the two halves ----------------------------------------------------------------------------

    def padding_mask(self, token_ids):
        return ops.not_equal(token_ids, self.padding_id)  # (B, T), True at real tokens

    def _embed(self, table, positions, token_ids, start_index=0):
        tok = ops.cast(table(token_ids), self.compute_dtype) * math.sqrt(self.width)  # (B, T, C)
        return tok + positions(tok, start_index=start_index)  # (B, T, C)

    def encode(self, source_ids, training=False, return_attention_scores=False):
        """source_ids (B, S) -> the encoder's output (B, S, C) [, each block's self-attention (B, nh, S, S)]."""
        mask = self.padding_mask(source_ids)  # (B, S)
        x = self.drop(self._embed(self.wte_source or self.wte, self.wpe_source, source_ids), training=training)
        scores = []
        for block in self.encoder_blocks:
            x, s = block(x, padding_mask=mask, training=training, return_attention_scores=True)  # (B, S, C)
            scores.append(s)
        x = self.ln_enc(x) if self.norm_first else x
        return (x, scores) if return_attention_scores else x

    def cross_key_values(self, memory):
        """The encoder's output (B, S, C) -> every decoder block's cross-attention keys and values
        (B, L, 2, S, nh, hs): computed once per source, read at every decoding step."""
        return ops.stack([b.cross_key_values(memory) for b in self.decoder_blocks], axis=1)

    def decode(self, target_ids, cross_key_values, source_mask, training=False, return_attention_scores=False):
        """target_ids (B, T) (a start token first) -> logits (B, T, V) [, per block (self, cross) weights]."""
        mask = self.padding_mask(target_ids)  # (B, T)
        x = self.drop(self._embed(self.wte, self.wpe_target, target_ids), training=training)  # (B, T, C)
        scores = []
        for i, block in enumerate(self.decoder_blocks):
            x, s_self, s_cross = block(x, cross_key_values[:, i], memory_mask=source_mask, padding_mask=mask,
                                       training=training, return_attention_scores=True)
            scores.append((s_self, s_cross))  # (B, nh, T, T), (B, nh, T, S)
        logits = self.lm_head(self.ln_f(x) if self.norm_first else x)  # (B, T, V)
        return (logits, scores) if return_attention_scores else logits

    def lm_head(self, x):
        return ops.cast(self.wte(x, reverse=True), "float32")  # (B, T, C) -> (B, T, V), logits in float32

    def call(self, inputs, training=False, return_attention_scores=False):
        source_ids, target_ids = inputs["source_ids"], inputs["target_ids"]
        memory, encoder_scores = self.encode(source_ids, training=training, return_attention_scores=True)
        logits, decoder_scores = self.decode(target_ids, self.cross_key_values(memory), self.padding_mask(source_ids),
                                             training=training, return_attention_scores=True)
        if return_attention_scores:
            return logits, {"encoder": encoder_scores, "decoder_self": [s for s, _ in decoder_scores],
                            "cross": [c for _, c in decoder_scores]}
        return logits

    # --- decoding one token at a time ------------------------------------------------------------------

    def init_cache(self, batch_size, max_length=None):
        """Zeros (B, L, 2, S, nh, hs) for the decoder's self-attention keys and values, S = max_length or
        target_length."""
        length = self.target_length if max_length is None else max_length
        shape = (batch_size, self.decoder_layers, 2, length, self.num_heads, self.width // self.num_heads)
        return ops.zeros(shape, dtype=self.compute_dtype)

    def call_with_cache(self, target_ids, cache, cache_update_index, cross_key_values, source_mask):
        """The T targets `target_ids` (B, T) at positions cache_update_index...: (logits (B, T, V),
        hidden states (B, T, C), the cache with their keys and values written in)."""
        x = self._embed(self.wte, self.wpe_target, target_ids, start_index=cache_update_index)  # (B, T, C)
        caches = []
        for i, block in enumerate(self.decoder_blocks):
            x, layer_cache = block(x, cross_key_values[:, i], memory_mask=source_mask, cache=cache[:, i],
                                   cache_update_index=cache_update_index)  # (B, T, C), (B, 2, S, nh, hs)
            caches.append(layer_cache)
        hidden = self.ln_f(x) if self.norm_first else x
        return self.lm_head(hidden), hidden, ops.stack(caches, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "source_length": self.source_length,
            "target_length": self.target_length,
            "width": self.width,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "num_heads": self.num_heads,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "norm_first": self.norm_first,
            "padding_id": self.padding_id,
            "share_embeddings": self.share_embeddings,
            "tie_weights": self.tie_weights,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config
