"""Models: what trains, a network with its head (an MLP, a ResNet or a Vision Transformer on pixels, a classifier,
token-classifier, span or masked-LM head on an encoder, a GPT, the encoder-decoder Transformer), and the factory
that builds each from its config section. Keras subclasses, registered for `.keras` serialization under the package "tfmodels"."""

from tfmodels.models.factory import (
    build_encoder,
    build_gpt,
    build_image_model,
    build_masked_lm,
    build_preset_text_model,
    build_seq2seq,
    build_span_model,
    build_text_model,
    build_token_model,
)
from tfmodels.models.gpt import GPT
from tfmodels.models.masked_lm import MaskedLMModel
from tfmodels.models.mlp import MLPClassifier
from tfmodels.models.resnet import ResidualBlock, ResNet
from tfmodels.models.seq2seq import Seq2SeqTransformer
from tfmodels.models.span_labeler import SpanLabeler
from tfmodels.models.text_classifier import TextClassifier
from tfmodels.models.token_classifier import TokenClassifier
from tfmodels.models.vit import VisionTransformer

__all__ = ["GPT", "MLPClassifier", "MaskedLMModel", "ResNet", "ResidualBlock", "Seq2SeqTransformer", "VisionTransformer",
           "SpanLabeler", "TextClassifier", "TokenClassifier",
           "build_encoder",
           "build_gpt", "build_image_model", "build_masked_lm", "build_preset_text_model", "build_seq2seq", "build_span_model",
           "build_text_model", "build_token_model"]
