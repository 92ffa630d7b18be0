"""Token by token from a causal LM's cache, for text that is shown as it comes (`generate(stream=True)`).

`generation.compiled_generate` decodes a whole continuation in one XLA program, which is the fastest
way to the end but shows nothing until then. Here each step is one compiled call on one token: the
cache is allocated once at the block size, so the step has one shape and compiles once, and every
token is handed back as soon as it is sampled. When the block is full the context slides by half a
block (a fresh cache over the newest half), as `tfmodels generate` does. Sampling happens on the
host, from the step's logits: greedy, or softmax(logits / temperature) cut to the top k or the top p.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import tensorflow as tf

from tfmodels.decoding.generation import pass_length


def sample_next(logits: np.ndarray, sampler: str, temperature: float, top_k: int, top_p: float,
                rng: np.random.Generator) -> int:
    """One token id from the logits (V,) of the next position."""
    if sampler == "greedy":
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    if sampler == "top_k":
        z[np.argsort(z)[:-top_k]] = -np.inf
    probabilities = np.exp(z - z.max())
    probabilities /= probabilities.sum()
    if sampler == "top_p":  # the smallest set of most likely tokens whose probability reaches p
        order = np.argsort(-probabilities)
        keep = order[:int(np.searchsorted(np.cumsum(probabilities[order]), top_p)) + 1]
        kept = np.zeros_like(probabilities)
        kept[keep] = probabilities[keep]
        probabilities = kept / kept.sum()
    return int(rng.choice(len(probabilities), p=probabilities))


class TokenStream:
    """A causal LM's next tokens, one at a time. `model` has `init_cache`, `call_with_cache` and `block_size`."""

    def __init__(self, model, block_size: int):
        self.model, self.block_size = model, block_size

        @tf.function(jit_compile=True)
        def step(token, cache, index):  # (1, 1) int32, the cache, () int32 -> (logits (V,), cache)
            logits, _, cache = model.call_with_cache(token, cache, index)
            return tf.cast(logits[0, 0], tf.float32), cache

        @tf.function(reduce_retracing=True)
        def prefill(ids):  # (1, L) int32 -> (logits of the last position (V,), cache)
            cache = model.init_cache(1, block_size)
            logits, _, cache = model.call_with_cache(ids, cache, 0)
            return tf.cast(logits[0, -1], tf.float32), cache

        self._step, self._prefill = step, prefill

    def tokens(self, ids: list[int], max_new_tokens: int, sampler: str = "greedy", temperature: float = 1.0,
               top_k: int = 10, top_p: float = 0.9, seed: int | None = None) -> Iterator[int]:
        """Yields `max_new_tokens` ids after the prompt `ids`, in the passes of `tfmodels generate`
        (`pass_length`): the same contexts, so greedy decoding gives the same text."""
        rng = np.random.default_rng(seed)
        tokens, remaining = list(ids), max_new_tokens
        while remaining:
            n = pass_length(len(tokens), remaining, self.block_size)
            context = tokens[-(self.block_size - n):]
            logits, cache = self._prefill(tf.constant([context], tf.int32))
            for i in range(n):
                token = sample_next(logits.numpy(), sampler, temperature, top_k, top_p, rng)
                yield token
                tokens.append(token)
                if i + 1 < n:
                    index = tf.constant(len(context) + i, tf.int32)
                    logits, cache = self._step(tf.constant([[token]], tf.int32), cache, index)
            remaining -= n

