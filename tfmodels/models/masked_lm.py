"""Masked-language-model pretraining: an encoder, and a head that predicts the masked tokens."""

from __future__ import annotations

import keras
import keras_hub


@keras.saving.register_keras_serializable(package="tfmodels")
class MaskedLMModel(keras.Model):
    """`{"token_ids": (B, T), "mask_positions": (B, P)}` -> logits over the vocabulary `(B, P, V)`.

    The head is keras-hub's `MaskedLMHead`: it gathers the encoder's vectors at the masked
    positions, applies Dense -> GELU -> LayerNorm, and projects to the vocabulary, with the token
    embedding matrix itself when `tie_weights` (as BERT), or with a matrix of its own.

    Args:
        encoder: a text encoder (the contract of `tfmodels/networks/encoder.py`), e.g. a `TransformerEncoder`.
        tie_weights: share the output projection with the token embedding.
        kernel_initializer: initializer of the head's kernels (BERT: a truncated normal of 0.02).
    """

    def __init__(self, encoder, tie_weights=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder
        self.tie_weights = bool(tie_weights)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        token_shape = input_shape["token_ids"]
        if not self.encoder.built:
            self.encoder.build(token_shape)
        # Made here from the encoder's own embedding, so that the tie survives saving and loading.
        self.lm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=self.encoder.vocabulary_size,
            token_embedding=self.encoder.token_embedding if self.tie_weights else None,
            intermediate_activation="gelu",
            kernel_initializer=self.kernel_initializer,
            # float32 around the vocabulary projection (which runs in the tied embedding's precision):
            # the logits' bias is added in float32, and keras-hub's head fails eagerly under a mixed
            # policy otherwise (a float32 bias added to bfloat16 logits).
            dtype=_head_policy(self.dtype_policy),
            name="lm_head",
        )
        self.lm_head.build((*token_shape, self.encoder.width), input_shape["mask_positions"])
        self.built = True

    def call(self, inputs, training=False):
        token_ids = inputs["token_ids"]
        # Every token in segment 0: a pretraining sequence is documents joined by [SEP], not a sentence pair
        # (counted as segments, most tokens would be segment 1 here and 0 in single-text fine-tuning).
        segments = keras.ops.zeros_like(token_ids) if getattr(self.encoder, "num_segments", 0) else None
        h = self.encoder(token_ids, training=training, **({"segment_ids": segments} if segments is not None else {}))
        logits = self.lm_head(h, mask_positions=inputs["mask_positions"])  # (B, P, V)
        return keras.ops.cast(logits, "float32")

    def get_config(self):
        config = super().get_config()
        config.update({"encoder": keras.saving.serialize_keras_object(self.encoder), "tie_weights": self.tie_weights,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


def _head_policy(policy):
    """The masked-LM head's dtype policy: float32 compute under a mixed policy, else the model's."""
    return "float32" if policy.compute_dtype != policy.variable_dtype else policy
