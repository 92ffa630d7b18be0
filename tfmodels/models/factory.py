"""Builds the model a `ModelConfig` names: the one place that maps config to model classes (the tasks
call these; each returns a built model). A published encoder is wrapped here (`build_preset_text_model`);
a published GPT-2 becomes our GPT in its converter (`tfmodels/converters/keras_hub_gpt2.py`).

The config is validated already (`ModelConfig.validate`); the classes check their own arguments too.
"""

from __future__ import annotations

import numpy as np

from tfmodels.config import ModelConfig
from tfmodels.models.gpt import GPT
from tfmodels.models.masked_lm import MaskedLMModel
from tfmodels.models.mlp import MLPClassifier
from tfmodels.models.resnet import ResNet
from tfmodels.models.seq2seq import Seq2SeqTransformer
from tfmodels.models.span_labeler import SpanLabeler
from tfmodels.models.text_classifier import TextClassifier
from tfmodels.models.token_classifier import TokenClassifier
from tfmodels.models.vit import VisionTransformer
from tfmodels.networks import BackboneEncoder, BagOfWordsEncoder, RecurrentEncoder, TextCNNEncoder, TransformerEncoder


def build_image_model(config: ModelConfig, train_inputs: np.ndarray, num_classes: int):
    """A built classifier (MLP, ResNet or Vision Transformer) for images like `train_inputs`, its input
    statistics adapted."""
    if config.type == "cnn":
        c = config.cnn
        model = ResNet(num_classes, widths=c.widths, blocks_per_stage=c.blocks_per_stage, dropout=c.dropout,
                       name="resnet")
    elif config.type == "vit":
        v = config.vit
        model = VisionTransformer(num_classes, train_inputs.shape[1:3], patch_size=v.patch_size, width=v.width,
                                  num_layers=v.num_layers, num_heads=v.num_heads, ffn_dim=v.ffn_dim, dropout=v.dropout,
                                  pooling=v.pooling, name="vit")
    else:
        mlp = config.mlp
        model = MLPClassifier(num_classes=num_classes, hidden_units=mlp.hidden_units, activation=mlp.activation,
                              dropout=mlp.dropout, batch_norm=mlp.batch_norm, normalization=mlp.normalization,
                              name="mlp_classifier")
    model.build((None, *train_inputs.shape[1:]))
    model.adapt(train_inputs)
    return model


def build_encoder(config: ModelConfig, vocabulary_size: int, sequence_length: int, padding_id: int = 0,
                  separator_id: int | None = None):
    """The `TransformerEncoder` that `config.encoder` describes (`separator_id`: `[SEP]`, for its segments)."""
    e = config.encoder
    return TransformerEncoder(vocabulary_size, sequence_length, width=e.width, num_layers=e.num_layers,
                              num_heads=e.num_heads, ffn_dim=e.ffn_dim, dropout=e.dropout, activation=e.activation,
                              norm_first=e.norm_first, position=e.position, padding_id=padding_id,
                              layer_norm_epsilon=e.layer_norm_epsilon, initializer_range=e.initializer_range,
                              num_segments=e.num_segments if separator_id is not None else 0,
                              separator_id=separator_id, name="encoder")


def build_text_model(config: ModelConfig, vocabulary_size: int, sequence_length: int, num_classes: int,
                     padding_id: int = 0, separator_id: int | None = None):
    """A `TextClassifier` on a Transformer, recurrent (LSTM, GRU) or convolutional (TextCNN) encoder, or on the
    bag-of-words baseline."""
    e, head = config.encoder, config.head
    if config.type == "transformer":
        encoder = build_encoder(config, vocabulary_size, sequence_length, padding_id, separator_id)
    elif config.type in ("lstm", "gru"):
        r = config.rnn
        encoder = RecurrentEncoder(vocabulary_size, cell=config.type, embedding_dim=r.embedding_dim, units=r.units,
                                   num_layers=r.num_layers, bidirectional=r.bidirectional, dropout=r.dropout,
                                   padding_id=padding_id, name="encoder")
    elif config.type == "textcnn":
        t = config.textcnn
        encoder = TextCNNEncoder(vocabulary_size, embedding_dim=t.embedding_dim, filter_widths=t.filter_widths,
                                 filters=t.filters, dropout=t.dropout, padding_id=padding_id, name="encoder")
    else:
        encoder = BagOfWordsEncoder(vocabulary_size, width=e.width, padding_id=padding_id, name="encoder")
    model = TextClassifier(encoder, num_classes, pooling=head.pooling, dropout=head.dropout, name="text_classifier")
    model.build((None, sequence_length))
    return model


def build_preset_text_model(config: ModelConfig, backbone, num_classes: int, sequence_length: int, padding_id: int,
                            separator_id: int):
    """A `TextClassifier` (our head, `config.head`) on a keras-hub backbone loaded from a preset."""
    encoder = BackboneEncoder(backbone, padding_id=padding_id, separator_id=separator_id, name="encoder")
    model = TextClassifier(encoder, num_classes, pooling=config.head.pooling, dropout=config.head.dropout,
                           name="text_classifier")
    model.build((None, sequence_length))
    return model


def build_token_model(config: ModelConfig, vocabulary_size: int, sequence_length: int, num_labels: int,
                      padding_id: int = 0, backbone=None, separator_id: int | None = None):
    """A `TokenClassifier` on a new `TransformerEncoder`, or on a keras-hub `backbone` from a preset."""
    if backbone is not None:
        encoder = BackboneEncoder(backbone, padding_id=padding_id, separator_id=separator_id, name="encoder")
    else:
        encoder = build_encoder(config, vocabulary_size, sequence_length, padding_id)
    model = TokenClassifier(encoder, num_labels, dropout=config.head.dropout, name="token_classifier")
    model.build((None, sequence_length))
    return model


def build_span_model(config: ModelConfig, vocabulary_size: int, sequence_length: int, padding_id: int,
                     separator_id: int, backbone=None):
    """A `SpanLabeler` (question answering) on a new two-segment `TransformerEncoder`, or on a preset's `backbone`."""
    if backbone is not None:
        encoder = BackboneEncoder(backbone, padding_id=padding_id, separator_id=separator_id, name="encoder")
    else:
        encoder = build_encoder(config, vocabulary_size, sequence_length, padding_id, separator_id)
    model = SpanLabeler(encoder, dropout=config.head.dropout, name="span_labeler")
    model.build((None, sequence_length))
    return model


def build_masked_lm(config: ModelConfig, vocabulary_size: int, sequence_length: int, mask_slots: int,
                    padding_id: int = 0, separator_id: int | None = None):
    """A `MaskedLMModel` on a new `TransformerEncoder`, predicting `mask_slots` positions a sequence."""
    encoder = build_encoder(config, vocabulary_size, sequence_length, padding_id, separator_id)
    model = MaskedLMModel(encoder, tie_weights=config.masked_lm.tie_weights,
                          kernel_initializer=encoder.initializer("glorot_uniform"), name="masked_lm")
    model.build({"token_ids": (None, sequence_length), "mask_positions": (None, mask_slots)})
    return model


def build_gpt(config: ModelConfig, vocabulary_size: int):
    """The `GPT` that `config.gpt` describes."""
    g = config.gpt
    model = GPT(vocabulary_size, g.block_size, width=g.width, num_layers=g.num_layers, num_heads=g.num_heads,
                ffn_dim=g.ffn_dim, dropout=g.dropout, use_bias=g.bias, tie_weights=g.tie_weights,
                activation=g.activation, name="gpt")
    model.build((None, g.block_size))
    return model



def build_seq2seq(config: ModelConfig, vocabulary_sizes: tuple[int, int], lengths: tuple[int, int], padding_id: int):
    """The built `Seq2SeqTransformer` that `config.seq2seq` describes: (source, target) vocabulary sizes and
    longest lengths (its position tables)."""
    m = config.seq2seq
    model = Seq2SeqTransformer(*vocabulary_sizes, *lengths, width=m.width, encoder_layers=m.encoder_layers,
                               decoder_layers=m.decoder_layers, num_heads=m.num_heads, ffn_dim=m.ffn_dim,
                               dropout=m.dropout, activation=m.activation, norm_first=m.norm_first,
                               padding_id=padding_id, share_embeddings=m.shared_vocabulary, tie_weights=m.tie_weights,
                               name="seq2seq")
    model.build()
    return model
