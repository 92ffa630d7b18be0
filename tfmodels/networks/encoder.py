"""The encoder contract: what a model's head may ask of the text encoder it sits on.

Every text encoder here keeps it (`TransformerEncoder`, `BagOfWordsEncoder`) and so does any keras-hub
backbone, through the one adapter `BackboneEncoder`. A head uses nothing else of its encoder:

    encoder(token_ids (B, T), training) -> vectors (B, T, width)
    encoder.width, encoder.vocabulary_size
    encoder.token_embedding          the Embedding layer of token ids (a tied output projection, LoRA)
    encoder.padding_mask(token_ids)  (B, T) booleans, True at real tokens
    encoder.blocks                   its Transformer layers, first to last ([] for none): gradual unfreezing
    encoder.returns_attention        whether encoder(ids, return_attention_scores=True) also returns
                                     one (B, heads, T, T) tensor of attention weights a layer
"""

from __future__ import annotations

from keras import ops


class TextEncoder:
    """The contract as a mixin (listed first among a Keras model's bases); the defaults are those of an
    encoder without attention whose token embedding is `self.wte` and whose padding is `self.padding_id`."""

    returns_attention = False
    blocks = ()  # an encoder with Transformer layers sets its own list

    @property
    def token_embedding(self):
        return self.wte

    def padding_mask(self, token_ids):
        return ops.not_equal(token_ids, self.padding_id)  # (B, T), True at real tokens
