"""A span labeller for extractive question answering (BERT's SQuAD head; Model Garden's `BertSpanLabeler`):
one vector a token -> two logits, how likely the answer starts there and how likely it ends there."""

from __future__ import annotations

import keras
from keras import ops

PADDING_LOGIT = -1e9  # padding is never a start or an end


@keras.saving.register_keras_serializable(package="tfmodels")
class SpanLabeler(keras.Model):
    """`token_ids (B, T)` of `[CLS] question [SEP] context [SEP]` -> logits `(B, 2, T)`: row 0 the start
    logits, row 1 the end logits (so that a cross-entropy over T with targets `(B, 2)` is BERT's loss, the
    mean of the start and end losses). Which positions may hold an answer (the context) is the decoder's
    business (`tfmodels/decoding/spans.py`); the model masks only the padding.

    Args:
        encoder: a text encoder (`tfmodels/networks/encoder.py`) that reads the two segments off the
            `[SEP]` token: `TransformerEncoder` with two segments, or a preset's backbone in `BackboneEncoder`.
        dropout: dropout on each token's vector before the logits.
    """

    def __init__(self, encoder, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder
        self.dropout = float(dropout)

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        self.head_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="head_dropout")
        self.span_logits = keras.layers.Dense(2, dtype="float32", name="span_logits")
        self.span_logits.build((None, None, self.encoder.width))
        self.built = True

    def call(self, token_ids, training=False):
        h = self.encoder(token_ids, training=training)  # (B, T, C)
        logits = self.span_logits(self.head_dropout(h, training=training))  # (B, T, 2)
        real = ops.expand_dims(self.encoder.padding_mask(token_ids), -1)  # (B, T, 1)
        logits = ops.where(real, logits, PADDING_LOGIT)
        return ops.transpose(logits, (0, 2, 1))  # (B, 2, T)

    def get_config(self):
        config = super().get_config()
        config.update({"encoder": keras.saving.serialize_keras_object(self.encoder), "dropout": self.dropout})
        return config
