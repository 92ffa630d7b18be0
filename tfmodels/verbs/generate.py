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
from typing import Callable, Iterator

import numpy as np

from tfmodels.decoding.generation import SAMPLERS, compiled_generate, make_sampler, pass_window
from tfmodels.decoding.streaming import TokenStream
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


@dataclass
class Prepared:
    """A run's model and tokenizer, and one prompt encoded (in the run's template, if it has one)."""

    model: object
    codec: object
    block: int
    ids: list[int]
    stop: int | None  # the id that ends a templated response (<|endoftext|>), else None


def prepare(run_dir, prompt: str, adapters=None, model=None) -> Prepared:
    """`model`: the run's loaded model, to skip loading it again (the Python API keeps it)."""
    paths = RunPaths(run_dir)
    require_finished(paths)
    run = task_for(read_run_config(paths)).generation(paths)  # refuses a run that does not generate
    if not prompt:
        raise DataError("the prompt is empty; give at least one character")
    # An instruction-tuned run (or adapters trained so): the prompt in its template; the response ends at
    # <|endoftext|>.
    template = read_adapters(adapters)[0].get("template") if adapters is not None else None
    template = template or run.template
    ids = run.codec.encode(template.format(prompt=prompt) if template else prompt, where="the prompt")
    model = model if model is not None else load_keras_model(paths.model)
    if adapters is not None:  # a LoRA run's adapters.npz, put on this run (its base) and merged
        model = merged_copy(load_adapters(model, adapters))
    return Prepared(model, run.codec, run.block_size, list(ids), run.codec.end_of_text if template else None)


def generate(run_dir: str | os.PathLike, prompt: str, max_new_tokens: int = 200, sampler: str = "greedy",
             temperature: float = 1.0, top_k: int = 10, top_p: float = 0.9, seed: int | None = None,
             adapters: str | os.PathLike | None = None, log: Callable[[str], None] = lambda _: None,
             on_text: Callable[[str], None] = lambda _: None, model=None) -> Generation:
    check_options(max_new_tokens, sampler, temperature, top_k, top_p)
    run = prepare(run_dir, prompt, adapters, model)
    codec, block, ids, stop = run.codec, run.block, run.ids, run.stop
    unit = "characters" if codec.kind == "character" else "tokens"
    # The decoding loop compiled by XLA: 1.8-14x keras-hub's default generate here, 1.2-1.7x keras-hub
    # under XLA (docs/benchmarks.md).
    step = compiled_generate(run.model, make_sampler(sampler, temperature=temperature, top_k=top_k, top_p=top_p,
                                                     seed=seed), jit_compile=True)
    tokens, remaining, cropped, shown = list(ids), max_new_tokens, 0, ""
    while remaining:
        # A single pass when everything fits; else half a block of new tokens after the newest context.
        window, mask, n = pass_window(tokens, remaining, block)
        context = window.shape[1] - n
        if len(tokens) == len(ids) and context < len(ids):
            cropped = len(ids) - context
            log(f"the prompt has {len(ids)} {unit} and the block {block}: the model sees its last "
                f"{context}; its first {cropped} were cut")
        out = np.asarray(step(window, mask))[0]
        tokens += out[context:].tolist()
        remaining -= n
        if stop is not None and stop in tokens[len(ids):]:
            tokens, remaining = tokens[:tokens.index(stop, len(ids))], 0
        text = codec.decode(tokens[len(ids):])  # decoded whole: a BPE piece may end inside a character,
        if remaining:  # which decodes as U+FFFD until its next bytes come: hold it back until then
            text = text.rstrip("\ufffd")
        on_text(text[len(shown):])
        shown = text
    return Generation(prompt=prompt, text=shown, cropped=cropped)


def stream_generate(run_dir: str | os.PathLike, prompt: str, max_new_tokens: int = 200, sampler: str = "greedy",
                    temperature: float = 1.0, top_k: int = 10, top_p: float = 0.9, seed: int | None = None,
                    adapters: str | os.PathLike | None = None, model=None) -> Iterator[str]:
    """The continuation as it comes: each piece of text as soon as its token is sampled
    (`decoding.streaming`). A byte-level BPE token may end inside a character: its text waits for
    the next token. The beam sampler looks ahead, so it does not stream."""
    check_options(max_new_tokens, sampler, temperature, top_k, top_p)
    if sampler == "beam":
        raise DataError("the beam sampler looks ahead and cannot stream; choose greedy, top_k, top_p or random")
    run = prepare(run_dir, prompt, adapters, model)  # a bad run or prompt fails here, before the first piece
    tokens = TokenStream(run.model, run.block).tokens(run.ids, max_new_tokens, sampler, temperature, top_k, top_p,
                                                      seed)

    def pieces():
        new, shown = [], ""
        for token in tokens:
            if token == run.stop:
                break
            new.append(token)
            text = run.codec.decode(new).rstrip("\ufffd")
            if len(text) > len(shown):
                yield text[len(shown):]
                shown = text

    return pieces()
