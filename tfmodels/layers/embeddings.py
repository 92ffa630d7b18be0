"""Token embedding plus position embedding (learned, or sinusoidal as in Vaswani et al.), plus BERT's
segment embedding (sentence A or B of a pair)."""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from tfmodels.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tfmodels")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """`token_ids (B, T)` -> `token embedding + position embedding (B, T, C)`.

    The padding id gives the mask (`padding_mask(token_ids)`: True at real tokens); it is passed
    explicitly to the attention layers rather than attached to tensors, so no layer drops it. Tokens are embedded with
    Keras's `ReversibleEmbedding` (its matrix can also map vectors back to token logits, for a
    tied masked-LM head; Keras's own class, not keras-hub's alias of it, because `model.quantize`
    converts only a layer whose type is exactly Keras's). Positions are learned (keras-hub's `PositionEmbedding`) or fixed
    sinusoids (keras-hub's `SinePositionEncoding`).

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest sequence (size of the learned position table).
        width: embedding width C.
        position: "learned" or "sinusoidal".
        padding_id: the token id of padding.
        token_initializer: initializer of the token embedding (keras-hub's default: uniform in +-0.05).
        position_initializer: initializer of the learned position embedding (keras-hub's default: Glorot).
        num_segments: rows of the segment embedding (BERT's `type_vocab_size`: 2); 0 for none.
        separator_id: the `[SEP]` id, from which the segment ids are read (`segment_ids`); needed when
            num_segments > 0.
    """

    def __init__(self, vocabulary_size, sequence_length, width, position="learned", padding_id=0,
                 token_initializer="uniform", position_initializer="glorot_uniform", num_segments=0,
                 separator_id=None, **kwargs):
        super().__init__(**kwargs)
        if position not in ("learned", "sinusoidal"):
            raise ValueError(f"position must be 'learned' or 'sinusoidal', got {position!r}")
        if not 0 <= padding_id < vocabulary_size:
            raise ValueError(f"padding_id {padding_id} is not a token id of a vocabulary of {vocabulary_size}")
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.width = int(width)
        self.position = position
        self.padding_id = int(padding_id)
        if num_segments < 0 or (num_segments and separator_id is None):
            raise ValueError(f"num_segments must be 0 or more, and a segment embedding needs separator_id; got "
                             f"num_segments={num_segments}, separator_id={separator_id}")
        self.num_segments = int(num_segments)
        self.separator_id = None if separator_id is None else int(separator_id)
        self.token_initializer = keras.initializers.get(token_initializer)
        self.position_initializer = keras.initializers.get(position_initializer)

    def build(self, input_shape):
        # Reversible: a masked-LM head can project back to the vocabulary with the same matrix, in this
        # layer's compute precision (bfloat16 under mixed precision) also when the head hands it float32
        # vectors: the product is the head's largest (3 x 3.2 GFLOP a step in the reference encoder).
        self.wte = keras.layers.ReversibleEmbedding(self.vocabulary_size, self.width, tie_weights=True,
                                                    embeddings_initializer=self.token_initializer,
                                                    reverse_dtype=self.dtype_policy.compute_dtype,
                                                    dtype=self.dtype_policy, name="token_embedding")
        self.wte.build(input_shape)
        embedded_shape = (*input_shape, self.width)
        if self.position == "learned":
            self.wpe = keras_hub.layers.PositionEmbedding(self.sequence_length, initializer=self.position_initializer,
                                                          dtype=self.dtype_policy, name="position_embedding")
        else:
            self.wpe = keras_hub.layers.SinePositionEncoding(dtype=self.dtype_policy, name="position_encoding")
        self.wpe.build(embedded_shape)
        if self.num_segments:
            # Initialised as the tokens are (BERT: both truncated normal 0.02); Glorot on a (2, C) table would
            # add a constant vector of about sqrt(6 / C) to every token, drowning the token embedding.
            self.wse = keras.layers.Embedding(self.num_segments, self.width, embeddings_initializer=clone_initializer(
                self.token_initializer), dtype=self.dtype_policy, name="segment_embedding")
            self.wse.build(input_shape)
        self.built = True

    def call(self, token_ids, segment_ids=None):
        """`segment_ids` (B, T): given, or None to read them off the `[SEP]`s (`segment_ids`)."""
        # (B, T, C); cast: an int8-quantized embedding returns float32 under a mixed policy (Keras 3.15)
        tokens = ops.cast(self.wte(token_ids), self.compute_dtype)
        x = tokens + self.wpe(tokens)  # (B, T, C), the position term broadcast over the batch
        if self.num_segments:
            segments = self.segment_ids(token_ids) if segment_ids is None else segment_ids
            x = x + self.wse(segments)  # (B, T, C)
        return x

    def segment_ids(self, token_ids):
        return segment_ids_from_separators(token_ids, self.separator_id, self.padding_id, self.num_segments)

    def padding_mask(self, token_ids):
        return ops.not_equal(token_ids, self.padding_id)  # (B, T), True at real tokens

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.width)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "width": self.width,
            "position": self.position,
            "padding_id": self.padding_id,
            "token_initializer": keras.initializers.serialize(self.token_initializer),
            "position_initializer": keras.initializers.serialize(self.position_initializer),
            "num_segments": self.num_segments,
            "separator_id": self.separator_id,
        })
        return config


def segment_ids_from_separators(token_ids, separator_id, padding_id, num_segments=2):
    """`(B, T)` segment ids read off the token ids: 0 up to and including the first `[SEP]`, then 1, ...
    (at most num_segments - 1), and 0 at padding. For `[CLS] a [SEP] b [SEP] [PAD]...` (keras-hub's
    `MultiSegmentPacker`) these are exactly the packer's segment ids, so a pair needs no second input
    tensor; a text with no `[SEP]` is all segment 0."""
    separators = ops.cast(ops.equal(token_ids, separator_id), "int32")  # (B, T)
    before = ops.cumsum(separators, axis=1) - separators  # separators strictly before each position
    before = ops.where(ops.equal(token_ids, padding_id), 0, before)
    return ops.minimum(before, num_segments - 1)  # (B, T)
