"""Instruction tuning data for a causal LM: prompt/response pairs as fixed windows with a loss mask.

Each pair is read as `template.format(prompt=...)`, then the response, then `<|endoftext|>` (so the model
learns where a response ends), and cut or padded to `block_size + 1` tokens:

    tokens   [ template + prompt ........ | response ........ <|endoftext|> | padding ... ]
    weight   [ 0 (or 1: loss_on_prompt)    | 1 ...                        1 | 0 ...       ]

x = tokens[:-1], y = tokens[1:]; a target's weight is that of the token it predicts, so the loss (a mean
over weighted targets: `mean_with_sample_weight`) is per response token, padding never counted. The
model is causal, so padding after the end changes no earlier position. A pair longer than the window
loses the start of its prompt first (the response is what is learnt), then the end of its response.
Evaluation always weighs the response alone, so runs with and without the prompt in the loss compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.data.order import training_batches
from tfmodels.errors import DataError


@dataclass
class InstructionExamples:
    x: np.ndarray  # (N, block) int32 inputs
    y: np.ndarray  # (N, block) int32 next-token targets
    weight: np.ndarray  # (N, block) float32: the training loss's weights (response; and prompt if asked)
    response_weight: np.ndarray  # (N, block) float32: 1 at response targets only (evaluation)
    cut_prompts: int = 0  # pairs whose prompt lost its start to fit the window
    cut_responses: int = 0  # pairs whose response lost its end

    def __len__(self) -> int:
        return len(self.x)


def instruction_examples(prompts: list[str], responses: list[str], codec, template: str, block_size: int,
                         loss_on_prompt: bool = False) -> InstructionExamples:
    window = block_size + 1
    n = len(prompts)
    tokens = np.full((n, window), codec.end_of_text, np.int32)
    prompt_part = np.zeros((n, window), bool)
    real = np.zeros((n, window), bool)
    cut_prompts = cut_responses = 0
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        p = codec.encode(template.format(prompt=prompt), where=f"prompt {i}")
        r = np.append(codec.encode(response, where=f"response {i}"), codec.end_of_text)
        if len(p) + len(r) > window:
            keep = max(window - len(r), min(len(p), window // 4))  # at least a quarter of the window of prompt
            cut_prompts += keep < len(p)
            p = p[len(p) - keep:]
            cut_responses += len(p) + len(r) > window
            r = r[:window - len(p)]
        tokens[i, :len(p)], tokens[i, len(p):len(p) + len(r)] = p, r
        prompt_part[i, :len(p)] = True
        real[i, :len(p) + len(r)] = True
    response = (real & ~prompt_part)[:, 1:].astype(np.float32)  # the weight of each target, (N, block)
    weight = (real[:, 1:] if loss_on_prompt else real[:, 1:] & ~prompt_part[:, 1:]).astype(np.float32)
    if not response.any(axis=1).all():
        raise DataError("a pair keeps no response token in the window; raise model.gpt.block_size")
    return InstructionExamples(tokens[:, :-1], tokens[:, 1:], weight, response, cut_prompts, cut_responses)


def instruction_dataset(examples: InstructionExamples, global_batch: int, seed: int, training: bool,
                        first_step: int = 0, steps: int = 0) -> tf.data.Dataset:
    """Training: `steps` batches of (x, y, weight) from step `first_step`, the examples in a new seeded order
    every pass. Evaluation: every example once, in order, weighted on the response alone."""
    if not training:
        return tf.data.Dataset.from_tensor_slices((examples.x, examples.y, examples.response_weight)).batch(global_batch)
    if len(examples) < global_batch:
        raise DataError(f"{len(examples)} prompt/response pairs, fewer than one batch of {global_batch}; lower "
                        "trainer.batch_size")
    per_pass = len(examples) // global_batch
    passes = -(-(first_step + steps) // per_pass)  # ceil
    batches = training_batches((examples.x, examples.y, examples.weight), global_batch, seed, passes)
    return batches.skip(first_step).take(steps).prefetch(tf.data.AUTOTUNE)
