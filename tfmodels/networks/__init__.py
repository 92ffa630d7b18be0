"""Networks: stacks of layers that map token ids to vectors (the encoders), each keeping the encoder
contract (`encoder.py`) that the models' heads rely on; keras-hub backbones keep it through one adapter."""

from tfmodels.networks.backbone_encoder import BackboneEncoder
from tfmodels.networks.bag_of_words import BagOfWordsEncoder
from tfmodels.networks.encoder import TextEncoder
from tfmodels.networks.recurrent import RecurrentEncoder
from tfmodels.networks.text_cnn import TextCNNEncoder
from tfmodels.networks.transformer import TransformerEncoder

__all__ = ["BackboneEncoder", "BagOfWordsEncoder", "RecurrentEncoder", "TextCNNEncoder", "TextEncoder", "TransformerEncoder"]
