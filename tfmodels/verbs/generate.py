"""`tfmodels generate RUN "PROMPT"`: text from a causal language model's run, decoded with its cache.

The prompt is encoded with the run's own tokenizer (characters or BPE) and continued by a keras-hub sampler in a
loop compiled by XLA, with the key/value cache (`tfmodels.decoding.generation`). The model sees at most
`block_size` tokens: when the prompt and the new tokens do not fit, the context slides, as nanoGPT
crops it, but by half a block at a time (one new cache a half block rather than a recomputation a
token), so the model always sees at least half a block of context. A prompt longer than the block is
cut from its start, and the user is told. The text is handed to `on_text` as each pass ends (the
CLI prints it as it comes: a pass is the whole continuation when it fits, else half a block).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tfmodels.decoding.generation import SAMPLERS, compiled_generate, make_sampler
from tfmodels.errors import DataError
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_adapters, load_keras_model, read_adapters
from tfmodels.tasks import task_for
from tfmodels.transforms.lora import merged_copy


@dataclass
class Generation:
    prompt: str
    text: str  # what the model added
    cropped: int  # tokens of the prompt's start the model never saw (a prompt longer than the block)


def check_options(max_new_tokens: int, sampler: str, temperature: float, top_k: int, top_p: float) -> None:
    if max_new_tokens < 1:
        raise DataError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    if not temperature > 0:
        raise DataError(f"--temperature must be above 0 (1 keeps the model's probabilities), got {temperature}")
    if top_k < 1:
        raise DataError(f"--top-k must be at least 1, got {top_k}")
    if not 0 < top_p <= 1:
        raise DataError(f"--top-p must be in (0, 1], got {top_p}")
    if sampler not in SAMPLERS:
        raise DataError(f"--sampler {sampler!r} is not one of {', '.join(SAMPLERS)}")


def generate(run_dir: str | os.PathLike, prompt: str, max_new_tokens: int = 200, sampler: str = "greedy",
             temperature: float = 1.0, top_k: int = 10, top_p: float = 0.9, seed: int | None = None,
             adapters: str | os.PathLike | None = None, log: Callable[[str], None] = lambda _: None,
             on_text: Callable[[str], None] = lambda _: None) -> Generation:
    check_options(max_new_tokens, sampler, temperature, top_k, top_p)
    paths = RunPaths(run_dir)
    require_finished(paths)
    run = task_for(read_run_config(paths)).generation(paths)  # refuses a run that does not generate
    codec, block = run.codec, run.block_size
    unit = "characters" if codec.kind == "character" else "tokens"
    if not prompt:
        raise DataError("the prompt is empty; give at least one character")
    # An instruction-tuned run (or adapters trained so): the prompt in its template; the response ends at
    # <|endoftext|>.
    template = read_adapters(adapters)[0].get("template") if adapters is not None else None
    template = template or run.template
    ids = codec.encode(template.format(prompt=prompt) if template else prompt, where="the prompt")
    stop = codec.end_of_text if template else None
    model = load_keras_model(paths.model)
    if adapters is not None:  # a LoRA run's adapters.npz, put on this run (its base) and merged
        model = merged_copy(load_adapters(model, adapters))
    # The decoding loop compiled by XLA: 1.8-14x keras-hub's default generate here, 1.2-1.7x keras-hub
    # under XLA (docs/benchmarks.md).
    step = compiled_generate(model, make_sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p,
                                                 seed=seed), jit_compile=True)
    tokens, remaining, cropped, shown = list(ids), max_new_tokens, 0, ""
    while remaining:
        # A single pass when everything fits; else half a block of new tokens after the newest context.
        n = remaining if len(tokens) + remaining <= block else min(remaining, max(block // 2, block - len(tokens), 1))
        context = tokens[-(block - n):]
        if len(tokens) == len(ids) and len(context) < len(ids):
            cropped = len(ids) - len(context)
            log(f"the prompt has {len(ids)} {unit} and the block {block}: the model sees its last "
                f"{len(context)}; its first {cropped} were cut")
        window = np.zeros((1, len(context) + n), np.int32)
        window[0, :len(context)] = context
        mask = np.zeros_like(window, bool)
        mask[0, :len(context)] = True
        out = np.asarray(step(window, mask))[0]
        tokens += out[len(context):].tolist()
        remaining -= n
        if stop is not None and stop in tokens[len(ids):]:
            tokens, remaining = tokens[:tokens.index(stop, len(ids))], 0
        text = codec.decode(tokens[len(ids):])  # decoded whole: a BPE piece may end inside a character,
        if remaining:  # which decodes as U+FFFD until its next bytes come: hold it back until then
            text = text.rstrip("\ufffd")
        on_text(text[len(shown):])
        shown = text
    return Generation(prompt=prompt, text=shown, cropped=cropped)
