"""LoRA fine-tuning of a `TextClassifier` or a `GPT`: adapters on the attention and feed-forward
projections (and, if asked, the token embedding), merged back into plain weights for export."""

from __future__ import annotations

import keras

from tfmodels.layers import DecoderBlock, TransformerEncoderBlock

# The Dense layers of each block that get adapters, by target name: attention (fused q/k/v, output)
# and feed-forward. `token_embedding` adapts the embedding matrix (vocabulary x width) as well.
LORA_TARGETS = {"attention": (("attn", "c_attn"), ("attn", "c_proj")),
                "feed_forward": ((None, "c_fc"), (None, "c_proj"))}
TOKEN_EMBEDDING = "token_embedding"
LORA_TARGET_NAMES = (*LORA_TARGETS, TOKEN_EMBEDDING)
DEFAULT_TARGETS = ("attention", "feed_forward")


def _body(model):
    """(the model's part that LoRA adapts, its blocks, its token embedding): a classifier's encoder,
    or a GPT itself (whose tied lm_head then adapts with its token embedding)."""
    if hasattr(model, "encoder"):
        if not hasattr(model.encoder, "blocks"):
            raise ValueError(f"LoRA needs a Transformer; {type(model.encoder).__name__} has no attention blocks")
        return model.encoder, model.encoder.blocks, model.encoder.embeddings.wte
    return model, model.blocks, model.wte


def _targets(model, targets=DEFAULT_TARGETS):
    _, blocks, wte = _body(model)
    for block in blocks:
        if not isinstance(block, (TransformerEncoderBlock, DecoderBlock)):  # pragma: no cover
            continue
        for target in targets:
            for parent, name in LORA_TARGETS.get(target, ()):
                yield getattr(block.attn if parent else block, name)
    if TOKEN_EMBEDDING in targets:
        yield wte


def enable_lora(model, rank: int, alpha: float | None = None, targets=DEFAULT_TARGETS) -> None:
    """Keras's own `enable_lora(rank, alpha)` on every target; everything else but the head is frozen.

    Afterwards the trainable weights are the adapters (`lora_kernel_a/b`, `lora_embeddings_a/b`) and
    a classifier's head, nothing more (a GPT has no head of its own). The update is `(alpha / rank) A B`;
    alpha None is the rank.
    """
    body, _, _ = _body(model)
    for variable in body.weights:
        variable.trainable = False
    for layer in _targets(model, targets):
        layer.enable_lora(rank, lora_alpha=alpha)  # freezes the kernel, adds the two low-rank factors


def merged_copy(model):
    """A model of the same config without adapters, whose kernels are `W + (alpha / r) A B`."""
    plain = type(model).from_config(model.get_config())
    plain.build((None, model.encoder.sequence_length if hasattr(model, "encoder") else model.block_size))
    for old, new in zip(model._flatten_layers(include_self=False), plain._flatten_layers(include_self=False)):
        if getattr(old, "lora_enabled", False) and isinstance(old, keras.layers.Embedding):
            new.embeddings.assign(old.embeddings)  # Keras's `embeddings` of a LoRA Embedding is merged
            if getattr(old, "reverse_embeddings", None) is not None:  # an untied lm_head keeps its own matrix
                new.reverse_embeddings.assign(old.reverse_embeddings)
        elif getattr(old, "lora_enabled", False):
            new.kernel.assign(old.kernel)  # Keras's `kernel` of a LoRA Dense is the merged matrix
            if old.use_bias:
                new.bias.assign(old.bias)
        elif not old._layers and old.weights:
            new.set_weights([keras.ops.convert_to_numpy(w) for w in old.weights])
    return plain
