"""Builds the model a `ModelConfig` names: the one place that maps config to model classes."""

from __future__ import annotations

import numpy as np

from tfmodels.config import ModelConfig
from tfmodels.models.mlp import MLPClassifier


def build_model(config: ModelConfig, train_inputs: np.ndarray, num_classes: int):
    """Returns a built classifier for inputs like `train_inputs`, its input statistics adapted."""
    if config.type == "mlp":
        mlp = config.mlp
        model = MLPClassifier(
            num_classes=num_classes,
            hidden_units=mlp.hidden_units,
            activation=mlp.activation,
            dropout=mlp.dropout,
            batch_norm=mlp.batch_norm,
            normalization=mlp.normalization,
            name="mlp_classifier",
        )
        model.adapt(train_inputs)
        return model
    raise ValueError(f"unknown model.type {config.type!r}")  # the config checks choices before this
