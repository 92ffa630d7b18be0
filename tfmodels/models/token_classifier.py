"""A token classifier on top of any encoder that maps token ids to vectors: dropout, then one label's
logits a token (a word's label is read at its first sub-word; the task aligns words and sub-words)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfmodels")
class TokenClassifier(keras.Model):
    """`token_ids (B, T)` -> label logits `(B, T, num_labels)`.

    Args:
        encoder: a text encoder (the contract of `tfmodels/networks/encoder.py`): `TransformerEncoder`,
            or a pretrained backbone in `BackboneEncoder`.
        num_labels: number of labels (tags or roles).
        dropout: dropout on each token's vector before the logits.
    """

    def __init__(self, encoder, num_labels, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if num_labels < 2:
            raise ValueError(f"num_labels must be at least 2, got {num_labels}")
        self.encoder = encoder
        self.num_labels = int(num_labels)
        self.dropout = float(dropout)

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        self.head_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="head_dropout")
        self.logits = keras.layers.Dense(self.num_labels, dtype="float32", name="logits")
        self.logits.build((None, None, self.encoder.width))
        self.built = True

    def call(self, token_ids, training=False):
        h = self.encoder(token_ids, training=training)  # (B, T, C)
        return self.logits(self.head_dropout(h, training=training))  # (B, T, num_labels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_labels": self.num_labels,
            "dropout": self.dropout,
        })
        return config
