"""Initializers shared by the Transformer's layers."""

from __future__ import annotations

import keras


def clone_initializer(initializer):
    """A new initializer with `initializer`'s settings, for one weight.

    An unseeded Keras initializer draws its seed once, when it is made: the same instance used for two
    weights gives both the same random numbers (a 256 x 256 kernel would equal the first 256 rows of a
    256 x 768 one). Each weight therefore gets its own copy, as keras-hub's layers do.
    """
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())
