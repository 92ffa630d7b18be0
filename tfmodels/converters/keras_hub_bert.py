"""Our `TransformerEncoder` as keras-hub's `BertBackbone`, with the same weights (for its presets).

Only an encoder wired as BERT converts: post-norm blocks (`norm_first=False`, whose `ln_emb` is BERT's
embeddings layer norm), learned positions, the tanh GELU, layer-norm epsilon 1e-12, and a segment
embedding. keras-hub's attention splits our fused `c_attn` (C, 3C) into query, key and value
`EinsumDense` layers of shape (C, heads, head size). BERT's `pooled_dense` (a tanh layer on [CLS],
trained by next-sentence prediction) has no counterpart here: it keeps BertBackbone's initial weights,
and a classifier should pool `sequence_output` (ours does).
"""

from __future__ import annotations

import keras_hub
import numpy as np

from tfmodels.compat import keras_hub_block
from tfmodels.networks.transformer import TransformerEncoder


def to_bert_backbone(encoder: TransformerEncoder) -> keras_hub.models.BertBackbone:
    """A `BertBackbone` whose `sequence_output` is what `encoder` computes (segments from the `[SEP]`s)."""
    differences = [what for what, ok in (
        ("norm_first=True (BERT is post-norm: norm_first=false)", not encoder.norm_first),
        (f"position={encoder.position!r} (BERT: learned)", encoder.position == "learned"),
        (f"activation={encoder.activation!r} (BERT: gelu_approximate)", encoder.activation == "gelu_approximate"),
        (f"layer_norm_epsilon={encoder.layer_norm_epsilon} (BERT: 1e-12)", encoder.layer_norm_epsilon == 1e-12),
        (f"num_segments={encoder.num_segments} (BERT: 2 or more)", encoder.num_segments >= 2),
    ) if not ok]
    if differences:
        raise ValueError("this encoder is not wired as BERT: " + "; ".join(differences))
    C, H = encoder.width, encoder.num_heads
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=encoder.vocabulary_size, num_layers=encoder.num_layers, num_heads=H, hidden_dim=C,
        intermediate_dim=encoder.ffn_dim, dropout=encoder.dropout, max_sequence_length=encoder.sequence_length,
        num_segments=encoder.num_segments)
    get = np.asarray
    embeddings = encoder.embeddings
    backbone.get_layer("token_embedding").embeddings.assign(get(embeddings.wte.embeddings))
    backbone.get_layer("position_embedding").position_embeddings.assign(get(embeddings.wpe.position_embeddings))
    backbone.get_layer("segment_embedding").embeddings.assign(get(embeddings.wse.embeddings))
    backbone.get_layer("embeddings_layer_norm").set_weights([get(w) for w in encoder.norm.weights])
    for i, block in enumerate(encoder.blocks):
        part = keras_hub_block(backbone.get_layer(f"transformer_layer_{i}"))
        kernel, bias = get(block.attn.c_attn.kernel), get(block.attn.c_attn.bias)  # (C, 3C): q | k | v
        for j, dense in enumerate((part["query"], part["key"], part["value"])):
            dense.kernel.assign(kernel[:, j * C:(j + 1) * C].reshape(C, H, C // H))
            dense.bias.assign(bias[j * C:(j + 1) * C].reshape(H, C // H))
        part["output"].kernel.assign(get(block.attn.c_proj.kernel).reshape(H, C // H, C))
        part["output"].bias.assign(get(block.attn.c_proj.bias))
        for mine, other in ((block.ln_1, part["attention_norm"]), (block.ln_2, part["ffn_norm"]),
                            (block.c_fc, part["ffn_intermediate"]), (block.c_proj, part["ffn_output"])):
            other.set_weights([get(w) for w in mine.weights])
    return backbone
