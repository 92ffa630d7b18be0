"""Models: Keras subclasses, registered for `.keras` serialization under the package "tfmodels"."""

from tfmodels.models.backbone_encoder import BackboneEncoder
from tfmodels.models.bag_of_words import BagOfWordsEncoder
from tfmodels.models.factory import (
    build_encoder,
    build_gpt,
    build_gpt_from_backbone,
    build_image_model,
    build_masked_lm,
    build_preset_text_model,
    build_text_model,
)
from tfmodels.models.gpt import GPT
from tfmodels.models.masked_lm import MaskedLMModel
from tfmodels.models.mlp import MLPClassifier
from tfmodels.models.text_classifier import TextClassifier
from tfmodels.models.transformer import TransformerEncoder

__all__ = ["BackboneEncoder", "BagOfWordsEncoder", "GPT", "MLPClassifier", "MaskedLMModel", "TextClassifier", "TransformerEncoder",
           "build_encoder", "build_gpt", "build_gpt_from_backbone", "build_image_model", "build_masked_lm",
           "build_preset_text_model", "build_text_model"]
