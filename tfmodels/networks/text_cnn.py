"""Kim (2014), "Convolutional Neural Networks for Sentence Classification", as a text encoder.

    token_ids (B, T) -> token embedding (B, T, E) -> dropout
      -> for each filter width h: Conv1D(filters, h, ReLU, 'same') (B, T, filters)
      -> concatenated (B, T, filters x len(filter_widths))

Kim's max-over-time pooling is the head's (`model.head.pooling=max`: the maximum over real tokens of each
feature map), then dropout and the logits. 'same' padding keeps one vector a token (the encoder contract), so
a text shorter than the widest filter still has features; the padded positions are masked out by the pooling.
"""

from __future__ import annotations

import keras
from keras import ops

from tfmodels.networks.encoder import TextEncoder


@keras.saving.register_keras_serializable(package="tfmodels")
class TextCNNEncoder(TextEncoder, keras.Model):
    """`token_ids (B, T)` -> `(B, T, filters x len(filter_widths))` feature maps.

    Args:
        vocabulary_size: rows of the token embedding.
        embedding_dim: width of the token embedding (Kim: 300).
        filter_widths: the convolutions' widths in tokens (Kim: 3, 4, 5).
        filters: feature maps a width (Kim: 100).
        dropout: on the embeddings.
        padding_id: the token id of padding.
    """

    def __init__(self, vocabulary_size, embedding_dim=128, filter_widths=(3, 4, 5), filters=100, dropout=0.0,
                 padding_id=0, **kwargs):
        super().__init__(**kwargs)
        if not filter_widths or any(int(w) < 1 for w in filter_widths) or filters < 1 or embedding_dim < 1:
            raise ValueError(f"filter_widths, filters and embedding_dim must be positive, got {list(filter_widths)}, "
                             f"{filters} and {embedding_dim}")
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        self.filter_widths = [int(w) for w in filter_widths]
        self.filters = int(filters)
        self.dropout = float(dropout)
        self.padding_id = int(padding_id)
        self.width = self.filters * len(self.filter_widths)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.wte = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, dtype=policy, name="token_embedding")
        self.wte.build(input_shape)
        self.embedding_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="embedding_dropout")
        self.convolutions = []
        for h in self.filter_widths:
            conv = keras.layers.Conv1D(self.filters, h, padding="same", activation="relu", dtype=policy,
                                       name=f"conv_{h}")
            conv.build((None, None, self.embedding_dim))
            self.convolutions.append(conv)
        self.built = True

    def call(self, token_ids, training=False):
        mask = ops.cast(self.padding_mask(token_ids), self.compute_dtype)[:, :, None]  # (B, T, 1)
        x = self.embedding_dropout(self.wte(token_ids), training=training) * mask  # (B, T, E), padding zero
        return ops.concatenate([conv(x) for conv in self.convolutions], axis=-1)  # (B, T, filters x widths)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                       "filter_widths": list(self.filter_widths), "filters": self.filters, "dropout": self.dropout,
                       "padding_id": self.padding_id})
        return config
