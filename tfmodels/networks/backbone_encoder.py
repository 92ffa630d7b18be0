"""A keras-hub backbone (BERT, DistilBERT, RoBERTa, ...) as an encoder of token ids, so that our
classifier head, trainer, fine-tuning modes and export work on a published checkpoint as on our own
encoder.

keras-hub backbones take a dict of `token_ids`, `padding_mask` and (BERT, ALBERT) `segment_ids`; this
wrapper takes the token ids alone, as every model here does, and reads the other two off them: the
padding id gives the mask, the `[SEP]`s the segments (`segment_ids_from_separators`, which equals
keras-hub's `MultiSegmentPacker` for the packing its preprocessors make).
"""

from __future__ import annotations

import keras
from keras import ops

from tfmodels.layers import segment_ids_from_separators
from tfmodels.networks.encoder import TextEncoder


@keras.saving.register_keras_serializable(package="tfmodels")
class BackboneEncoder(TextEncoder, keras.Model):
    """`token_ids (B, T)` -> the backbone's `sequence_output (B, T, C)`.

    Args:
        backbone: a keras-hub `Backbone` of a Transformer encoder (or its serialized config).
        padding_id: the tokenizer's padding id.
        separator_id: its `[SEP]` (end) id, from which segment ids are read; None when the backbone
            takes none.
    """

    def __init__(self, backbone, padding_id, separator_id=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        self.backbone = backbone
        self.padding_id = int(padding_id)
        self.separator_id = None if separator_id is None else int(separator_id)
        self.width = int(backbone.hidden_dim)
        self.vocabulary_size = int(backbone.vocabulary_size)
        for layer in backbone.layers:  # BERT's pooler (a tanh layer on [CLS], for next-sentence prediction): our
            if layer.name == "pooled_dense":  # head pools sequence_output, so it would get no gradient
                layer.trainable = False
        self.input_keys = sorted(backbone.input) if isinstance(backbone.input, dict) else ["token_ids"]
        unknown = set(self.input_keys) - {"token_ids", "padding_mask", "segment_ids"}
        if unknown:
            raise ValueError(f"{type(backbone).__name__} takes {sorted(unknown)} besides token ids; it is not a "
                             "text encoder this classifier can drive")

    @property
    def blocks(self) -> list:
        """The backbone's Transformer layers, first to last (for gradual unfreezing and LoRA)."""
        return list(getattr(self.backbone, "transformer_layers", []))

    @property
    def token_embedding(self):
        return getattr(self.backbone, "token_embedding", None)

    def padding_mask(self, token_ids):
        return ops.not_equal(token_ids, self.padding_id)  # (B, T), True at real tokens

    def call(self, token_ids, training=False):
        inputs = {"token_ids": token_ids, "padding_mask": self.padding_mask(token_ids)}
        if "segment_ids" in self.input_keys:
            inputs["segment_ids"] = segment_ids_from_separators(token_ids, self.separator_id, self.padding_id)
        outputs = self.backbone({k: inputs[k] for k in self.input_keys}, training=training)
        return outputs["sequence_output"] if isinstance(outputs, dict) else outputs  # (B, T, C)

    def get_config(self):
        config = super().get_config()
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "padding_id": self.padding_id,
            "separator_id": self.separator_id,
        })
        return config
