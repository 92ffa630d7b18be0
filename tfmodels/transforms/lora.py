"""LoRA fine-tuning of a `TextClassifier` or a `GPT`: adapters on the attention and feed-forward
projections (and, if asked, the token embedding), merged back into plain weights for export."""

from __future__ import annotations

import keras

from tfmodels.compat import is_leaf, keras_hub_block, lora_base, nested_layers
from tfmodels.layers import DecoderBlock, TransformerEncoderBlock

# The Dense layers of each block that get adapters, by target name: attention (fused q/k/v, output)
# and feed-forward. `token_embedding` adapts the embedding matrix (vocabulary x width) as well.
LORA_TARGETS = {"attention": (("attn", "c_attn"), ("attn", "c_proj")),
                "feed_forward": ((None, "c_fc"), (None, "c_proj"))}
TOKEN_EMBEDDING = "token_embedding"
LORA_TARGET_NAMES = (*LORA_TARGETS, TOKEN_EMBEDDING)
# The same targets in keras-hub's `TransformerEncoder` (the blocks of its BERT, DistilBERT, RoBERTa...
# backbones), by role (compat.keras_hub_block): separate query, key, value and output `EinsumDense`
# layers, and two feed-forward ones.
KERAS_HUB_TARGETS = {"attention": ("query", "key", "value", "output"), "feed_forward": ("ffn_intermediate", "ffn_output")}
DEFAULT_TARGETS = ("attention", "feed_forward")


def _body(model):
    """(the model's part that LoRA adapts, its blocks, its token embedding): a classifier's encoder,
    or a GPT itself (whose tied lm_head then adapts with its token embedding)."""
    if hasattr(model, "encoder"):  # a text encoder (tfmodels/networks/encoder.py)
        if not model.encoder.blocks:
            raise ValueError(f"LoRA needs a Transformer; {type(model.encoder).__name__} has no attention blocks")
        return model.encoder, model.encoder.blocks, model.encoder.token_embedding
    return model, model.blocks, model.wte


def _targets(model, targets=DEFAULT_TARGETS):
    _, blocks, wte = _body(model)
    for block in blocks:
        if isinstance(block, (TransformerEncoderBlock, DecoderBlock)):
            for target in targets:
                for parent, name in LORA_TARGETS.get(target, ()):
                    yield getattr(getattr(block, parent) if parent else block, name)
        else:
            part = keras_hub_block(block)
            for target in targets:
                yield from (part[role] for role in KERAS_HUB_TARGETS.get(target, ()))
    if TOKEN_EMBEDDING in targets:
        if wte is None:
            raise ValueError("this backbone has no token_embedding layer to adapt; drop token_embedding from "
                             "trainer.lora_targets")
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
    """A model of the same config without adapters, whose kernels are `W + (alpha / r) A B`, merged in
    float32 (Keras's `kernel` of a LoRA layer merges in the compute dtype: bfloat16 would round them)."""
    plain = type(model).from_config(model.get_config())
    encoder = getattr(model, "encoder", None)
    plain.build((None, getattr(encoder, "sequence_length", None) if encoder is not None else model.block_size))
    for old, new in zip(nested_layers(model), nested_layers(plain)):
        if getattr(old, "lora_enabled", False) and isinstance(old, keras.layers.Embedding):
            new.embeddings.assign(_merged(lora_base(old), old.lora_embeddings_a, old.lora_embeddings_b, old))
            if getattr(old, "reverse_embeddings", None) is not None:  # an untied lm_head keeps its own matrix
                new.reverse_embeddings.assign(old.reverse_embeddings)
        elif getattr(old, "lora_enabled", False):
            new.kernel.assign(_merged(lora_base(old), old.lora_kernel_a, old.lora_kernel_b, old))
            if getattr(old, "bias", None) is not None:
                new.bias.assign(old.bias)
        elif is_leaf(old) and old.weights:
            new.set_weights([keras.ops.convert_to_numpy(w) for w in old.weights])
    return plain


def _merged(base, a, b, layer):
    """`base + (alpha / rank) A B` in float32 NumPy."""
    import numpy as np

    as_float = lambda v: np.asarray(keras.ops.convert_to_numpy(v), np.float32)  # noqa: E731
    return as_float(base) + (layer.lora_alpha / layer.lora_rank) * np.matmul(as_float(a), as_float(b))


# --- adapters on their own: what a LoRA run adds to its base, keyed by weight path ------------------

def weight_path(model, variable) -> str:
    """A weight's path inside `model` (e.g. `h_1/attn/c_attn/lora_kernel_a`): Keras's path without the
    model's own name, which a model built in a process gets and one loaded from a `.keras` file may not."""
    prefix = f"{model.name}/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


def trained_weights(model) -> dict:
    """{weight path: value} of everything a LoRA run trains: the adapters (and a classifier's head).
    Keyed by path (`weight_path`), not by layer position: a file read into a model whose layers are
    listed in another order still lands on the right layers (keras-hub#2701)."""
    return {weight_path(model, w): keras.ops.convert_to_numpy(w) for w in model.trainable_weights}


def base_weights(model) -> list:
    """(path, weight) of the weights LoRA leaves as they were (the base's), in path order, for a
    fingerprint of the base."""
    trained = {id(w) for w in model.trainable_weights}
    return sorted(((weight_path(model, w), w) for w in model.weights
                   if id(w) not in trained and "seed_generator" not in w.path), key=lambda pair: pair[0])


def assign_trained_weights(model, values: dict) -> None:
    """Puts `trained_weights`' values back by path; every path must be there, with its shape."""
    weights = {weight_path(model, w): w for w in model.trainable_weights}
    missing, extra = sorted(set(weights) - set(values)), sorted(set(values) - set(weights))
    if missing or extra:
        raise ValueError(f"the adapters do not fit this model: {len(missing)} of its trained weights are not in the "
                         f"file (e.g. {missing[:2]}), {len(extra)} in the file are not in the model (e.g. {extra[:2]})")
    for path, value in values.items():
        if tuple(weights[path].shape) != tuple(value.shape):
            raise ValueError(f"adapter '{path}' has shape {tuple(value.shape)} in the file but "
                             f"{tuple(weights[path].shape)} in the model")
        weights[path].assign(value)
