"""Inverted dropout whose keep-or-drop decision costs 16 random bits an element instead of 32."""

from __future__ import annotations

import keras
import tensorflow as tf

BITS = 16
LEVELS = 2**BITS


@keras.saving.register_keras_serializable(package="tfmodels")
class Dropout16(keras.layers.Layer):
    """Dropout (Srivastava et al. 2014) as `keras.layers.Dropout`, with masks drawn from 16-bit numbers.

    Keras draws one 32-bit random float per element (TensorFlow's Philox generator; what that costs
    a training step is measured in docs/performance.md). Here one
    32-bit draw gives the masks of two elements: an element is dropped when its 16-bit number is
    below `threshold = round(rate * 65536)`. The rate in force is therefore `threshold / 65536`
    (0.1 -> 0.100006), and kept elements are scaled by exactly `1 / (1 - threshold / 65536)`, so
    the expected output still equals the input. The random state is a Keras `SeedGenerator`,
    saved and restored with the run's backups like Keras's own dropout.

    Args:
        rate: fraction of the elements to drop, in [0, 1).
        seed: seed of the random-number state (None: drawn from Keras's global seed).
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.threshold = int(round(self.rate * LEVELS))
        # As keras.layers.Dropout: a random state only when something is dropped (making one draws
        # from Keras's global generator, and so moves the initial weights of every layer made after it).
        self.seed_generator = keras.random.SeedGenerator(seed) if self.threshold else None
        self.supports_masking = True
        self.built = True  # no weights to make (as keras.layers.Dropout): `model.quantize` asks every layer to be built

    def call(self, inputs, training=False):
        if not training or self.threshold == 0:
            return inputs
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        shape = tf.shape(inputs)
        size = tf.reduce_prod(shape)
        # Half as many 32-bit draws as elements, each split into two 16-bit numbers.
        draws = tf.random.stateless_uniform(((size + 1) // 2,), seed=seed, dtype=tf.uint32, minval=None, maxval=None)
        numbers = tf.reshape(tf.reshape(tf.bitcast(draws, tf.uint16), [-1])[:size], shape)
        keep = numbers >= self.threshold  # P(keep) = 1 - threshold / 65536
        scale = tf.cast(LEVELS / (LEVELS - self.threshold), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
