"""Instruction tuning, measured: the loss on response tokens only against the loss on every token, and
LoRA adapters as files of their own.

    python -m benchmarks.instructions [--work DIR] [--steps 600]

The prompt/response set is the built-in `synthetic_instructions` (tfmodels/data/synthetic.py): 4,000
training and 400 validation pairs about the synthetic reviews, half "is this review positive or
negative?" (a one-word answer after a long prompt), half "reverse the words: ..." (the review's words
backwards). `configs/gpt_instructions_synthetic.yaml` is trained twice from random init, with the prompt
masked (its default) and with `data.text.loss_on_prompt=true`; both report the validation loss per
*response* token at every evaluation, and greedy answers on the validation prompts: sentiment accuracy
and exact reversals. Then the first run is tuned further with LoRA (rank 4) on the same pairs: the size
of `adapters.npz` against the full model's. Writes the "instructions" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS
from benchmarks.report import write_section

VALIDATION_ANSWERS = 200  # validation prompts answered greedily (about half of each kind)


def train_run(overrides: list[str], run_dir: Path) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / "gpt_instructions_synthetic.yaml"), ["logging.verbose=0", *overrides])
    metrics = finished_run_of(RunPaths(run_dir), config) or train(config, run_dir).metrics
    with open(run_dir / "history.csv") as f:
        curve = [float(row["val_loss"]) for row in csv.DictReader(f)]
    return {"metrics": metrics, "curve": curve}


def answers(run_dir: Path) -> dict:
    """Greedy answers to the first validation prompts, in the run's template, up to <|endoftext|>:
    sentiment accuracy and exact reversals. Recomputed each token (no cache): the same tokens as
    `tfmodels generate`, without compiling a decoding loop for every prompt."""
    import numpy as np

    from tfmodels.data.lm_tokenizers import read_codec
    from tfmodels.data.synthetic import synthetic_instructions
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.saving import load_keras_model

    model, codec = load_keras_model(run_dir / "model.keras"), read_codec(run_dir)
    config = read_run_config(RunPaths(run_dir))
    template, block = config.data.text.template, config.model.gpt.block_size
    prompts, responses = synthetic_instructions("validation")
    right = {"sentiment": [0, 0], "reverse": [0, 0]}
    for prompt, response in list(zip(prompts, responses))[:VALIDATION_ANSWERS]:
        ids = list(codec.encode(template.format(prompt=prompt)))
        start = len(ids)
        for _ in range(40):
            token = int(np.asarray(model(np.array([ids[-block:]], np.int32)))[0, -1].argmax())
            if token == codec.end_of_text:
                break
            ids.append(token)
        kind = "sentiment" if prompt.startswith("is this review") else "reverse"
        right[kind][0] += codec.decode(ids[start:]).strip() == response
        right[kind][1] += 1
    return {kind: hits / max(total, 1) for kind, (hits, total) in right.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default=None, help="folder of the runs (default: a new temporary folder)")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="instructions_"))
    steps = [f"trainer.max_steps={args.steps}"]
    masked = train_run(steps, work / "response_only")
    unmasked = train_run(steps + ["data.text.loss_on_prompt=true"], work / "every_token")
    scores = {"response_only": answers(work / "response_only"), "every_token": answers(work / "every_token")}
    lora = train_run(steps + [f"init.from_run={work / 'response_only'}", "trainer.finetune=lora", "trainer.lora_rank=4",
                              "trainer.learning_rate=0.001"], work / "lora")
    adapters, full = (work / "lora" / "adapters.npz").stat().st_size, (work / "response_only" / "model.keras").stat().st_size
    from tfmodels.saving import load_keras_model, read_adapters

    parameters = load_keras_model(work / "response_only" / "model.keras").count_params()
    adapter_values = sum(v.size for v in read_adapters(work / "lora" / "adapters.npz")[1].values())

    interval = 100
    lines = ["## Instruction tuning (`python -m benchmarks.instructions`)", "",
             f"`configs/gpt_instructions_synthetic.yaml` ({args.steps} steps, from random init) on the built-in "
             "`synthetic_instructions` pairs (4,000 train, 400 validation; half sentiment questions with one-word "
             "answers, half word reversals; see `benchmarks/instructions.py`). Validation loss per **response** "
             "token (the prompt never counts in evaluation) at each evaluation:", "",
             "| step | " + " | ".join(str(interval * (i + 1)) for i in range(len(masked["curve"]))) + " |",
             "|---|" + "---|" * len(masked["curve"]),
             "| loss on the response only (prompt masked) | " + " | ".join(f"{v:.4f}" for v in masked["curve"]) + " |",
             "| loss on every token | " + " | ".join(f"{v:.4f}" for v in unmasked["curve"]) + " |", "",
             f"Greedy answers to the first {VALIDATION_ANSWERS} validation prompts (exact match):", "",
             "| training loss on | sentiment accuracy | reversals exact | seconds |", "|---|---|---|---|",
             *[f"| {name.replace('_', ' ')} | {s['sentiment']:.3f} | {s['reverse']:.3f} | "
               f"{run['metrics']['wall_seconds']:.0f} |"
               for (name, s), run in zip(scores.items(), (masked, unmasked))], "",
             f"LoRA (rank 4, attention and feed-forward) on top of the first run, {args.steps} more steps: "
             f"validation loss {lora['curve'][-1]:.4f}; `adapters.npz` is **{adapters / 1024:.1f} KiB** against "
             f"{full / 1024:.1f} KiB for the full `model.keras` ({100 * adapters / full:.1f}%; the `.keras` file holds the "
             f"optimizer's moments too): {adapter_values:,} numbers against the model's {parameters:,} parameters "
             f"({100 * adapter_values / parameters:.1f}%).", "",
             "The sentiment answers stay at about chance with either loss in 600 steps of this small GPT (the "
             "synthetic sentiment turns on negation and \"but\"; the reversals are a copy task)."]
    body = "\n".join(lines)
    print(body)
    write_section("instructions", body)


if __name__ == "__main__":
    main()
