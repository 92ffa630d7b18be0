"""A classifier on top of any encoder that maps token ids to vectors: pool, dropout, logits."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmodels")
class TextClassifier(keras.Model):
    """`token_ids (B, T)` -> class logits `(B, num_classes)`.

    Args:
        encoder: a text encoder (the contract of `tfmodels/networks/encoder.py`): `TransformerEncoder`,
            `BagOfWordsEncoder`, or a pretrained backbone in `BackboneEncoder`.
        num_classes: number of classes.
        pooling: "first" (the vector at position 0, the [CLS] token), "mean" (the mean over real
            tokens, padding excluded) or "max" (each feature's maximum over real tokens: Kim's max-over-time).
        dropout: dropout on the pooled vector.
    """

    def __init__(self, encoder, num_classes, pooling="first", dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if pooling not in ("first", "mean", "max"):
            raise ValueError(f"pooling must be 'first', 'mean' or 'max', got {pooling!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.encoder = encoder
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.dropout = float(dropout)

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        self.head_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="head_dropout")
        self.logits = keras.layers.Dense(self.num_classes, dtype="float32", name="logits")
        self.logits.build((None, self.encoder.width))
        self.built = True

    def call(self, token_ids, training=False):
        h = self.encoder(token_ids, training=training)  # (B, T, C)
        if self.pooling == "first":
            pooled = h[:, 0, :]  # (B, C)
        elif self.pooling == "mean":
            mask = ops.cast(self.encoder.padding_mask(token_ids), h.dtype)[:, :, None]  # (B, T, 1)
            pooled = ops.sum(h * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)  # (B, C)
        else:
            mask = self.encoder.padding_mask(token_ids)[:, :, None]  # (B, T, 1)
            lowest = ops.cast(-65000.0 if h.dtype == "float16" else -1e9, h.dtype)  # below any feature
            pooled = ops.max(ops.where(mask, h, lowest), axis=1)  # (B, C)
        return self.logits(self.head_dropout(pooled, training=training))  # (B, num_classes)

    @property
    def shows_attention(self) -> bool:
        """Whether the encoder returns its attention weights (ours does; a bag of words or a preset's does not)."""
        return self.encoder.returns_attention

    def attention_scores(self, token_ids):
        """The encoder's attention weights, one `(B, heads, T, T)` tensor a layer, for inspection."""
        if not self.shows_attention:
            raise ValueError(f"{type(self.encoder).__name__} has no attention to show")
        _, scores = self.encoder(token_ids, training=False, return_attention_scores=True)
        return scores

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "pooling": self.pooling,
            "dropout": self.dropout,
        })
        return config
