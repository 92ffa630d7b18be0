"""A Transformer encoder: token + position (+ segment) embedding, N encoder blocks, a final layer norm."""

from __future__ import annotations

import keras

from tfmodels.layers import Dropout16, LayerNorm, TokenAndPositionEmbedding, TransformerEncoderBlock
from tfmodels.networks.encoder import TextEncoder


@keras.saving.register_keras_serializable(package="tfmodels")
class TransformerEncoder(TextEncoder, keras.Model):
    """`token_ids (B, T)` -> contextual vectors `(B, T, width)`; padding (`padding_id`) is masked out.

    Pre-norm (`norm_first=True`) ends with a final layer norm (`ln_f`, as GPT-2); post-norm
    normalises the embeddings instead (`ln_emb`, as BERT), since each block already ends with one.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest input (size of the learned position table).
        width: model width C; must be a multiple of num_heads.
        num_layers: number of encoder blocks.
        num_heads: attention heads per block (head size = width / num_heads).
        ffn_dim: inner width of the feed-forward networks.
        dropout: dropout on embeddings, attention weights and sub-block outputs.
        activation: feed-forward activation.
        norm_first: pre-norm (True) or post-norm (False) blocks.
        position: "learned" or "sinusoidal" position embeddings.
        padding_id: the token id of padding.
        layer_norm_epsilon: epsilon of every layer norm.
        initializer_range: None for Keras's initializers (Glorot kernels, keras-hub's embedding defaults),
            or the standard deviation of a truncated normal for every kernel and embedding (BERT: 0.02).
        num_segments: rows of BERT's segment embedding (sentence A, B); 0 for none.
        separator_id: the `[SEP]` token id, which tells the segments apart (needed with num_segments).
    """

    def __init__(self, vocabulary_size, sequence_length, width=128, num_layers=2, num_heads=4, ffn_dim=512,
                 dropout=0.1, activation="gelu", norm_first=True, position="learned", padding_id=0,
                 layer_norm_epsilon=1e-5, initializer_range=None, num_segments=0, separator_id=None, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or width % num_heads:
            near = max(num_heads, round(width / max(num_heads, 1)) * max(num_heads, 1))
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}; "
                             f"choose a width that is a multiple of num_heads, e.g. {near}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.width = int(width)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        self.activation = activation
        self.norm_first = bool(norm_first)
        self.position = position
        self.padding_id = int(padding_id)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if initializer_range is not None and not initializer_range > 0:
            raise ValueError(f"initializer_range must be positive (BERT uses 0.02), or None; got {initializer_range}")
        self.initializer_range = None if initializer_range is None else float(initializer_range)
        self.num_segments = int(num_segments)
        self.separator_id = None if separator_id is None else int(separator_id)

    def initializer(self, keras_default):
        """`keras_default`, or BERT's truncated normal when `initializer_range` is set."""
        if self.initializer_range is None:
            return keras_default
        return keras.initializers.TruncatedNormal(stddev=self.initializer_range)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.embeddings = TokenAndPositionEmbedding(self.vocabulary_size, self.sequence_length, self.width,
                                                    position=self.position, padding_id=self.padding_id,
                                                    token_initializer=self.initializer("uniform"),
                                                    position_initializer=self.initializer("glorot_uniform"),
                                                    num_segments=self.num_segments, separator_id=self.separator_id,
                                                    dtype=policy, name="embeddings")
        self.embeddings.build(input_shape)
        self.emb_dropout = Dropout16(self.dropout, dtype=policy, name="emb_dropout")
        hidden_shape = (*input_shape, self.width)
        self.blocks = []
        for i in range(self.num_layers):
            block = TransformerEncoderBlock(self.num_heads, self.ffn_dim, dropout=self.dropout,
                                            activation=self.activation, norm_first=self.norm_first,
                                            layer_norm_epsilon=self.layer_norm_epsilon,
                                            kernel_initializer=self.initializer("glorot_uniform"), dtype=policy,
                                            name=f"h_{i}")
            block.build(hidden_shape)
            self.blocks.append(block)
        norm_name = "ln_f" if self.norm_first else "ln_emb"
        self.norm = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name=norm_name)
        self.norm.build(hidden_shape)
        self.built = True

    returns_attention = True

    @property
    def token_embedding(self):
        return self.embeddings.wte

    def padding_mask(self, token_ids):
        return self.embeddings.padding_mask(token_ids)  # (B, T), True at real tokens

    def call(self, token_ids, training=False, return_attention_scores=False, segment_ids=None):
        """`segment_ids`: None reads them off the `[SEP]`s; masked-LM pretraining gives zeros (its `[SEP]`s
        join documents, not the two sentences of a pair)."""
        mask = self.padding_mask(token_ids)  # (B, T)
        x = self.embeddings(token_ids, segment_ids=segment_ids)  # (B, T, C)
        if not self.norm_first:
            x = self.norm(x)
        x = self.emb_dropout(x, training=training)
        attention_scores = []
        for block in self.blocks:
            x, scores = block(x, padding_mask=mask, training=training, return_attention_scores=True)
            attention_scores.append(scores)  # (B, nh, T, T)
        if self.norm_first:
            x = self.norm(x)  # (B, T, C)
        return (x, attention_scores) if return_attention_scores else x

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "width": self.width,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "ffn_dim": self.ffn_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "norm_first": self.norm_first,
            "position": self.position,
            "padding_id": self.padding_id,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
            "num_segments": self.num_segments,
            "separator_id": self.separator_id,
        })
        return config
