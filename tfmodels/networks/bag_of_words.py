"""The baseline: token embeddings alone, with no positions and no attention."""

from __future__ import annotations

import keras

from tfmodels.networks.encoder import TextEncoder


@keras.saving.register_keras_serializable(package="tfmodels")
class BagOfWordsEncoder(TextEncoder, keras.Model):
    """`token_ids (B, T)` -> token embeddings `(B, T, width)`: each token on its own, order ignored.

    With a `TextClassifier` using `pooling="mean"`, this is the mean of the word embeddings, the
    baseline every text result is put beside.
    """

    def __init__(self, vocabulary_size, width=128, padding_id=0, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.width = int(width)
        self.padding_id = int(padding_id)

    def build(self, input_shape):
        self.wte = keras.layers.Embedding(self.vocabulary_size, self.width, dtype=self.dtype_policy,
                                          name="token_embedding")
        self.wte.build(input_shape)
        self.built = True

    def call(self, token_ids, training=False):
        return self.wte(token_ids)  # (B, T, C)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "width": self.width, "padding_id": self.padding_id})
        return config
