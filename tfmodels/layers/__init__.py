"""Layers: the pieces models are made of. Nothing here imports from `tfmodels.models`."""

from tfmodels.layers.attention import MultiHeadSelfAttention
from tfmodels.layers.decoder_block import DecoderBlock
from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.embeddings import TokenAndPositionEmbedding, segment_ids_from_separators
from tfmodels.layers.encoder_block import TransformerEncoderBlock

__all__ = ["DecoderBlock", "Dropout16", "MultiHeadSelfAttention", "TokenAndPositionEmbedding", "TransformerEncoderBlock",
           "segment_ids_from_separators"]
