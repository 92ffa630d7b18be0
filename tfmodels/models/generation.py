"""Generation from a causal LM with its key/value cache, by keras-hub's samplers (as `GPT2CausalLM.generate`)."""

from __future__ import annotations

import keras_hub
import tensorflow as tf
from keras import ops

SAMPLERS = ("greedy", "top_k", "top_p", "beam", "random")


def make_sampler(name: str = "greedy", temperature: float = 1.0, top_k: int = 10, top_p: float = 0.9,
                 num_beams: int = 4, seed: int | None = None):
    """A keras-hub sampler by name; a seed makes the random ones reproducible."""
    if name == "greedy":
        return keras_hub.samplers.GreedySampler(temperature=temperature)
    if name == "top_k":
        return keras_hub.samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature)
    if name == "top_p":
        return keras_hub.samplers.TopPSampler(p=top_p, seed=seed, temperature=temperature)
    if name == "beam":
        return keras_hub.samplers.BeamSampler(num_beams=num_beams, temperature=temperature)
    if name == "random":
        return keras_hub.samplers.RandomSampler(seed=seed, temperature=temperature)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def generate_ids(model, token_ids, padding_mask, sampler):
    """`token_ids` (B, S) holds each prompt at its start (right-padded), `padding_mask` (B, S) True at
    prompt tokens; every position after a prompt is filled, one token a step, from the cache.

    One forward pass over the padded prompts seeds the cache; decoding starts at the shortest prompt's
    end, and a position that is still a prompt token keeps it (the sampler writes only where the mask
    is False). S must not exceed the model's block size.
    """
    batch = ops.shape(token_ids)[0]
    cache = model.init_cache(batch, ops.shape(token_ids)[1])
    _, hidden, cache = model.call_with_cache(token_ids, cache, 0)  # (B, S, V), (B, S, C), the cache
    index = ops.min(ops.sum(ops.cast(padding_mask, "int32"), axis=-1))

    def next(prompt, cache, index):
        # The logits for position `index` come from the token at index - 1, written into the cache there.
        previous = ops.slice(prompt, [0, index - 1], [batch, 1])  # (B, 1)
        logits, hidden, cache = model.call_with_cache(previous, cache, index - 1)
        return ops.squeeze(logits, 1), ops.squeeze(hidden, 1), cache  # (B, V), (B, C), cache

    return sampler(next=next, prompt=token_ids, cache=cache, index=index, mask=padding_mask,
                   hidden_states=hidden, model=model)


def compiled_generate(model, sampler):
    """`generate_ids` as one TensorFlow graph (the decoding loop a `tf.while_loop`)."""
    return tf.function(lambda token_ids, padding_mask: generate_ids(model, token_ids, padding_mask, sampler),
                       reduce_retracing=True)
