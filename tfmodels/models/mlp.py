"""A dense classifier: normalise pixels -> flatten -> [Dense -> (BatchNorm) -> activation -> Dropout] x N -> logits."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfmodels")
class MLPClassifier(keras.Model):
    """Multi-layer perceptron over images or feature vectors, returning class logits.

    Args:
        num_classes: number of classes; the output is `(B, num_classes)` logits.
        hidden_units: width of each hidden Dense layer, first to last.
        activation: activation of the hidden layers (any Keras activation name).
        dropout: dropout rate after each hidden layer.
        batch_norm: put a BatchNormalization between each hidden Dense and its activation.
        normalization: input normalisation saved with the model: "global" (one mean and variance
            for all inputs), "per_feature" (one per input, each variance floored at their mean),
            or "none". Call `adapt(x)` on the training inputs to set its statistics before training.
    """

    def __init__(
        self,
        num_classes,
        hidden_units=(256, 128),
        activation="relu",
        dropout=0.2,
        batch_norm=False,
        normalization="global",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}; check the labels or model.num_classes")
        if not hidden_units or any(int(u) < 1 for u in hidden_units):
            raise ValueError(f"hidden_units must be a non-empty list of positive widths, got {list(hidden_units)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if normalization not in ("global", "per_feature", "none"):
            raise ValueError(f"normalization must be 'global', 'per_feature' or 'none', got {normalization!r}")
        self.num_classes = int(num_classes)
        self.hidden_units = [int(u) for u in hidden_units]
        self.activation = activation
        self.dropout = float(dropout)
        self.batch_norm = bool(batch_norm)
        self.normalization = normalization

    def build(self, input_shape):
        n_features = 1
        for size in input_shape[1:]:
            n_features *= int(size)
        policy = self.dtype_policy  # sublayers follow the model's precision, also when it is loaded elsewhere
        self.flatten = keras.layers.Flatten(dtype=policy, name="flatten")
        self.flatten.build(input_shape)
        if self.normalization == "none":
            self.input_norm = None
        else:
            axis = None if self.normalization == "global" else -1
            self.input_norm = keras.layers.Normalization(axis=axis, dtype=policy, name="input_norm")
            self.input_norm.build((None, n_features))
        self.hidden_layers, self.norm_layers, self.dropout_layers = [], [], []
        width = n_features
        for i, units in enumerate(self.hidden_units):
            dense = keras.layers.Dense(units, use_bias=not self.batch_norm, dtype=policy, name=f"hidden_{i}")
            dense.build((None, width))
            self.hidden_layers.append(dense)
            if self.batch_norm:
                norm = keras.layers.BatchNormalization(dtype=policy, name=f"batch_norm_{i}")
                norm.build((None, units))
                self.norm_layers.append(norm)
            self.dropout_layers.append(keras.layers.Dropout(self.dropout, dtype=policy, name=f"dropout_{i}"))
            width = units
        # Logits in float32 also under a mixed-precision policy: the loss needs them exact.
        self.logits = keras.layers.Dense(self.num_classes, dtype="float32", name="logits")
        self.logits.build((None, width))
        self.built = True

    def adapt(self, x):
        """Sets the input normalisation's mean and variance from training inputs `x` (N, ...)."""
        if not self.built:
            self.build((None, *x.shape[1:]))
        if self.input_norm is None:
            return
        self.input_norm.adapt(ops.convert_to_numpy(x).reshape(len(x), -1))
        if self.normalization == "per_feature":
            # A pixel that never varies in training (an MNIST border) would be divided by ~0 and
            # explode on any test image where it is set: floor each variance at the mean variance.
            variance = self.input_norm.adapt_variance
            variance.assign(ops.maximum(variance, ops.mean(variance)))
            self.input_norm.finalize_state()

    def call(self, x, training=False):
        h = self.flatten(x)  # (B, H, W) -> (B, F)
        if self.input_norm is not None:
            h = self.input_norm(h)  # (B, F), zero mean and unit variance on the training set
        for i, dense in enumerate(self.hidden_layers):
            h = dense(h)  # (B, units)
            if self.batch_norm:
                h = self.norm_layers[i](h, training=training)
            h = keras.activations.get(self.activation)(h)
            h = self.dropout_layers[i](h, training=training)
        return self.logits(h)  # (B, num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "hidden_units": list(self.hidden_units),
                "activation": self.activation,
                "dropout": self.dropout,
                "batch_norm": self.batch_norm,
                "normalization": self.normalization,
            }
        )
        return config
