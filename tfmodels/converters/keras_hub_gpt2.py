"""Our `GPT` as keras-hub's `GPT2Backbone`, with the same weights (for `GPT2CausalLM`, its presets).

keras-hub's GPT-2 splits the fused `c_attn` (C, 3C) into query, key and value `EinsumDense` layers of
shape (C, heads, head size) and always has biases and layer-norm offsets; a model without biases
(nanoGPT's `bias=False`) gets zeros there, which computes the same function. GPT-2 ties its output
projection to the token embedding, uses the tanh GELU and an MLP of 4 x width: other models are
refused with what differs.
"""

from __future__ import annotations

import keras_hub
import numpy as np

from tfmodels.compat import keras_hub_block
from tfmodels.models.gpt import GPT


def to_gpt2_backbone(model: GPT, max_sequence_length: int | None = None) -> keras_hub.models.GPT2Backbone:
    """A `GPT2Backbone` computing what `model` computes (its `max_sequence_length`: the block size)."""
    differences = [what for what, ok in (
        ("tie_weights=False (GPT-2 ties lm_head to wte)", model.tie_weights),
        (f"ffn_dim={model.ffn_dim} (GPT-2: 4 x width = {4 * model.width})", model.ffn_dim == 4 * model.width),
        (f"activation={model.activation!r} (GPT-2: 'gelu_approximate')", model.activation == "gelu_approximate"),
        (f"layer_norm_epsilon={model.layer_norm_epsilon} (GPT-2: 1e-05)", model.layer_norm_epsilon == 1e-5),
        ("a padding id (GPT-2 takes a padding mask instead)", model.padding_id is None),
    ) if not ok]
    if differences:
        raise ValueError("this GPT is not a GPT-2: " + "; ".join(differences))
    C, H = model.width, model.num_heads
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=model.vocabulary_size, num_layers=model.num_layers, num_heads=H, hidden_dim=C,
        intermediate_dim=model.ffn_dim, dropout=model.dropout,
        max_sequence_length=max_sequence_length or model.block_size)
    get = lambda w: np.asarray(w)  # noqa: E731
    zeros = np.zeros
    backbone.token_embedding.embeddings.assign(get(model.wte.embeddings))
    positions = get(model.wpe.position_embeddings)  # (block, C)
    table = np.zeros(backbone.position_embedding.position_embeddings.shape, np.float32)
    table[:len(positions)] = positions[:len(table)]
    backbone.position_embedding.position_embeddings.assign(table)
    for block, theirs in zip(model.blocks, backbone.transformer_layers):
        part = keras_hub_block(theirs)
        kernel = get(block.attn.c_attn.kernel)  # (C, 3C): q | k | v
        bias = get(block.attn.c_attn.bias) if block.use_bias else zeros(3 * C, np.float32)
        for i, dense in enumerate((part["query"], part["key"], part["value"])):
            dense.kernel.assign(kernel[:, i * C:(i + 1) * C].reshape(C, H, C // H))
            dense.bias.assign(bias[i * C:(i + 1) * C].reshape(H, C // H))
        part["output"].kernel.assign(get(block.attn.c_proj.kernel).reshape(H, C // H, C))
        part["output"].bias.assign(get(block.attn.c_proj.bias) if block.use_bias else zeros(C, np.float32))
        for mine, source in ((block.ln_1, part["attention_norm"]), (block.ln_2, part["ffn_norm"]),
                             (block.c_fc, part["ffn_intermediate"]), (block.c_proj, part["ffn_output"])):
            _copy(mine, source)
    _copy(model.ln_f, backbone.layer_norm)
    return backbone


def _copy(mine, theirs) -> None:
    """A Dense or LayerNormalization's weights into keras-hub's, zeros where ours has no bias/offset."""
    weights = [np.asarray(w) for w in mine.weights]
    shapes = [tuple(w.shape) for w in theirs.weights]
    if len(weights) < len(shapes):  # no bias (Dense) or no offset (LayerNormalization): zeros compute the same
        weights.append(np.zeros(shapes[len(weights)], np.float32))
    theirs.set_weights(weights)


def from_gpt2_backbone(backbone: keras_hub.models.GPT2Backbone, block_size: int, dropout: float = 0.0,
                       **kwargs) -> GPT:
    """Our `GPT` with a `GPT2Backbone`'s weights (e.g. a published GPT-2): the inverse of `to_gpt2_backbone`.
    `block_size` (at most the backbone's `max_sequence_length`) keeps the first rows of its position table."""
    table = np.asarray(backbone.position_embedding.position_embeddings)  # (max_sequence_length, C)
    if block_size > len(table):
        raise ValueError(f"block_size {block_size} is longer than this GPT-2's {len(table)} positions")
    C = backbone.hidden_dim
    H = backbone.num_heads
    model = GPT(backbone.vocabulary_size, block_size, width=C, num_layers=backbone.num_layers, num_heads=H,
                ffn_dim=backbone.intermediate_dim, dropout=dropout, use_bias=True, tie_weights=True,
                layer_norm_epsilon=1e-5, activation="gelu_approximate", **kwargs)
    model.build((None, block_size))
    get = lambda w: np.asarray(w)  # noqa: E731
    model.wte.embeddings.assign(get(backbone.token_embedding.embeddings))
    model.wpe.position_embeddings.assign(table[:block_size])
    for block, theirs in zip(model.blocks, backbone.transformer_layers):
        part = keras_hub_block(theirs)
        dense = (part["query"], part["key"], part["value"])
        block.attn.c_attn.kernel.assign(np.concatenate([get(d.kernel).reshape(C, C) for d in dense], axis=1))
        block.attn.c_attn.bias.assign(np.concatenate([get(d.bias).reshape(C) for d in dense]))
        block.attn.c_proj.kernel.assign(get(part["output"].kernel).reshape(C, C))
        block.attn.c_proj.bias.assign(get(part["output"].bias))
        for mine, source in ((block.ln_1, part["attention_norm"]), (block.ln_2, part["ffn_norm"]),
                             (block.c_fc, part["ffn_intermediate"]), (block.c_proj, part["ffn_output"])):
            mine.set_weights([get(w) for w in source.weights])
    model.ln_f.set_weights([get(w) for w in backbone.layer_norm.weights])
    return model
