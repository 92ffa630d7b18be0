"""LoRA fine-tuning of a `TextClassifier`: adapters on the attention and feed-forward projections,
merged back into plain weights for export."""

from __future__ import annotations

import keras

from tfmodels.layers import TransformerEncoderBlock

# The Dense layers of each block that get adapters: attention (fused q/k/v, output) and feed-forward.
LORA_TARGETS = (("attn", "c_attn"), ("attn", "c_proj"), (None, "c_fc"), (None, "c_proj"))


def _targets(model):
    for block in model.encoder.blocks:
        if not isinstance(block, TransformerEncoderBlock):  # pragma: no cover - encoders here have these blocks
            continue
        for parent, name in LORA_TARGETS:
            yield getattr(block.attn if parent else block, name)


def enable_lora(model, rank: int) -> None:
    """Keras's own `Dense.enable_lora(rank)` on every target; everything else but the head is frozen.

    Afterwards the trainable weights are the adapters (`lora_kernel_a`, `lora_kernel_b`) and the
    classification head, nothing more.
    """
    if not hasattr(model.encoder, "blocks"):
        raise ValueError(f"LoRA needs a Transformer encoder; {type(model.encoder).__name__} has no attention blocks")
    for variable in model.encoder.weights:
        variable.trainable = False
    for dense in _targets(model):
        dense.enable_lora(rank)  # freezes the kernel, adds the two low-rank factors


def merged_copy(model):
    """A model of the same config without adapters, whose kernels are `W + (alpha / r) A B`."""
    plain = type(model).from_config(model.get_config())
    plain.build((None, model.encoder.sequence_length))
    adapted = {id(d) for d in _targets(model)}
    for old, new in zip(model._flatten_layers(include_self=False), plain._flatten_layers(include_self=False)):
        if id(old) in adapted:
            new.kernel.assign(old.kernel)  # Keras's `kernel` of a LoRA Dense is the merged matrix
            if old.use_bias:
                new.bias.assign(old.bias)
        elif not old._layers and old.weights:
            new.set_weights([keras.ops.convert_to_numpy(w) for w in old.weights])
    return plain
