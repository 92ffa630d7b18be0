"""Builds the model a `ModelConfig` names: the one place that maps config to model classes."""

from __future__ import annotations

import numpy as np

from tfmodels.config import ModelConfig
from tfmodels.errors import ConfigError
from tfmodels.layers.initializers import get_activation
from tfmodels.models.bag_of_words import BagOfWordsEncoder
from tfmodels.models.mlp import MLPClassifier
from tfmodels.models.text_classifier import TextClassifier
from tfmodels.models.transformer import TransformerEncoder


def build_image_model(config: ModelConfig, train_inputs: np.ndarray, num_classes: int):
    """A built classifier for images like `train_inputs`, its input statistics adapted."""
    if config.type != "mlp":
        raise ConfigError(f"model.type={config.type!r} takes text, but the data are images; use model.type=mlp")
    mlp = config.mlp
    model = MLPClassifier(num_classes=num_classes, hidden_units=mlp.hidden_units, activation=mlp.activation,
                          dropout=mlp.dropout, batch_norm=mlp.batch_norm, normalization=mlp.normalization,
                          name="mlp_classifier")
    model.adapt(train_inputs)
    return model


def check_text_model_config(config: ModelConfig) -> None:
    """Raises ConfigError for sizes that cannot make a text model, before any data is tokenized."""
    e = config.encoder
    if config.type == "mlp":
        raise ConfigError(f"model.type={config.type!r} takes images, but the data are text; "
                          "use model.type=transformer or bag_of_words")
    for key in ("num_layers", "width", "num_heads", "ffn_dim"):
        if getattr(e, key) < 1:
            raise ConfigError(f"model.encoder.{key} must be at least 1, got {getattr(e, key)}")
    if config.type == "transformer" and e.width % e.num_heads:
        near = max(e.num_heads, round(e.width / e.num_heads) * e.num_heads)
        raise ConfigError(f"model.encoder.width={e.width} is not divisible by model.encoder.num_heads="
                          f"{e.num_heads}; choose a multiple of num_heads, e.g. width={near}")
    if e.initializer_range is not None and e.initializer_range <= 0:
        raise ConfigError(f"model.encoder.initializer_range must be positive (BERT uses 0.02), or null for "
                          f"Keras's initializers; got {e.initializer_range}")
    try:
        get_activation(e.activation)
    except ValueError:
        raise ConfigError(f"model.encoder.activation {e.activation!r} is not an activation: use a Keras name "
                          "(gelu, relu, silu, ...) or gelu_approximate (BERT's tanh GELU)") from None
    if not e.layer_norm_epsilon > 0:
        raise ConfigError(f"model.encoder.layer_norm_epsilon must be positive, got {e.layer_norm_epsilon}")
    if config.type == "bag_of_words" and config.head.pooling != "mean":
        raise ConfigError("model.type=bag_of_words averages the word embeddings: set model.head.pooling=mean")
    for key, value in (("model.encoder.dropout", e.dropout), ("model.head.dropout", config.head.dropout)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {value}")


def build_encoder(config: ModelConfig, vocabulary_size: int, sequence_length: int, padding_id: int = 0):
    """The `TransformerEncoder` that `config.encoder` describes."""
    e = config.encoder
    return TransformerEncoder(vocabulary_size, sequence_length, width=e.width, num_layers=e.num_layers,
                              num_heads=e.num_heads, ffn_dim=e.ffn_dim, dropout=e.dropout, activation=e.activation,
                              norm_first=e.norm_first, position=e.position, padding_id=padding_id,
                              layer_norm_epsilon=e.layer_norm_epsilon, initializer_range=e.initializer_range,
                              name="encoder")


def build_text_model(config: ModelConfig, vocabulary_size: int, sequence_length: int, num_classes: int,
                     padding_id: int = 0):
    """A `TextClassifier` on a Transformer encoder, or on the bag-of-words baseline."""
    check_text_model_config(config)
    e, head = config.encoder, config.head
    if config.type == "transformer":
        encoder = build_encoder(config, vocabulary_size, sequence_length, padding_id)
    else:
        encoder = BagOfWordsEncoder(vocabulary_size, width=e.width, padding_id=padding_id, name="encoder")
    model = TextClassifier(encoder, num_classes, pooling=head.pooling, dropout=head.dropout, name="text_classifier")
    model.build((None, sequence_length))
    return model
