"""Layers: the pieces networks and models are made of (attention, blocks, embeddings, dropout); they import
nothing else of tfmodels."""

from tfmodels.layers.attention import MultiHeadSelfAttention
from tfmodels.layers.cross_attention import MultiHeadCrossAttention
from tfmodels.layers.decoder_block import DecoderBlock
from tfmodels.layers.dropout import Dropout16
from tfmodels.layers.embeddings import TokenAndPositionEmbedding, segment_ids_from_separators
from tfmodels.layers.encoder_block import TransformerEncoderBlock
from tfmodels.layers.normalization import LayerNorm, layer_norm
from tfmodels.layers.transformer_decoder_block import TransformerDecoderBlock

__all__ = ["DecoderBlock", "Dropout16", "LayerNorm", "MultiHeadCrossAttention", "MultiHeadSelfAttention",
           "TokenAndPositionEmbedding", "TransformerDecoderBlock", "TransformerEncoderBlock", "layer_norm",
           "segment_ids_from_separators"]
