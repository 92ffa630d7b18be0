"""Recurrent text encoders: LSTM (Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014), read both ways.

    token_ids (B, T) -> token embedding (B, T, E) -> dropout
      -> num_layers x [Bidirectional(LSTM | GRU, units)] (B, T, 2 x units), dropout between layers

Padding is masked: each direction skips padded steps (the backward one starts at the last real token), so
a text reads the same however much padding follows it. The head pools the (B, T, width) vectors (max or mean
over real tokens).
"""

from __future__ import annotations

import keras

from tfmodels.networks.encoder import TextEncoder

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="tfmodels")
class RecurrentEncoder(TextEncoder, keras.Model):
    """`token_ids (B, T)` -> `(B, T, width)`, width = units x (2 if bidirectional else 1).

    Args:
        vocabulary_size: rows of the token embedding.
        cell: "lstm" or "gru".
        embedding_dim: width of the token embedding.
        units: state size of each direction.
        num_layers: stacked recurrent layers.
        bidirectional: read forwards and backwards, states concatenated.
        dropout: on the embeddings and between layers.
        padding_id: the token id of padding (masked).
    """

    def __init__(self, vocabulary_size, cell="lstm", embedding_dim=128, units=128, num_layers=1, bidirectional=True,
                 dropout=0.2, padding_id=0, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if min(embedding_dim, units, num_layers) < 1:
            raise ValueError("embedding_dim, units and num_layers must be at least 1")
        self.vocabulary_size = int(vocabulary_size)
        self.cell = cell
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.padding_id = int(padding_id)
        self.width = self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.wte = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, dtype=policy, name="token_embedding")
        self.wte.build(input_shape)
        self.layers_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="dropout")
        self.recurrent = []
        width = self.embedding_dim
        for i in range(self.num_layers):
            layer = CELLS[self.cell](self.units, return_sequences=True, dtype=policy, name=f"{self.cell}_{i}")
            if self.bidirectional:
                layer = keras.layers.Bidirectional(layer, dtype=policy, name=f"bidirectional_{i}")
            layer.build((None, None, width))
            self.recurrent.append(layer)
            width = self.width
        self.built = True

    def call(self, token_ids, training=False):
        mask = self.padding_mask(token_ids)  # (B, T)
        h = self.layers_dropout(self.wte(token_ids), training=training)  # (B, T, E)
        for i, layer in enumerate(self.recurrent):
            if i:
                h = self.layers_dropout(h, training=training)
            h = layer(h, mask=mask, training=training)  # (B, T, width)
        return h

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "cell": self.cell, "embedding_dim": self.embedding_dim,
                       "units": self.units, "num_layers": self.num_layers, "bidirectional": self.bidirectional,
                       "dropout": self.dropout, "padding_id": self.padding_id})
        return config
