"""Our GPT and nanoGPT's from the same initial weights on the same windows, loss step by step.

    python -m benchmarks.gpt_lockstep [--steps 500] [--nanogpt DIR] [--torch-python PY]

The race's model (4 x 4 x 128, block 64, batch 12, no biases, tied) is built by us, its weights
written in nanoGPT's names (`benchmarks/nanogpt.py`), and both programs train it on one list of
windows drawn from the training text: nanoGPT as its `train.py` does (`nanogpt_side.py lockstep`:
its own model.py, `configure_optimizers`, `get_lr`, clipping), ours with tfmodels' optimizer,
schedule and loss built from `configs/gpt_shakespeare_char.yaml`. Then ours again with each of
nanoGPT's choices put in by hand, one at a time and then together, to see which difference moves
the loss:

- `gelu`: the MLP's GELU, exact (nanoGPT's `nn.GELU()`) rather than tanh (GPT-2's; `model.gpt.activation`);
- `warm-up`: nanoGPT's first step at lr x 1 / 101 (its `get_lr`: (it + 1) / (warmup + 1)) rather than
  Keras's and Hugging Face's convention, lr x step / warmup (0 at the first step);
- `epsilon`: PyTorch's AdamW adds epsilon to sqrt(v_hat), Keras to sqrt(v) before the bias
  correction, i.e. epsilon / sqrt(1 - beta_2^t) on PyTorch's scale (10x PyTorch's at step 1).

Weight decay (every matrix, embeddings included, no norm scales), global-norm clipping at 1.0, the
tied embedding's gradient (the sum of its two uses) and float32 throughout are the same in both
already; the step-0 loss and the first steps' agreement check it. Writes the "gpt-lockstep"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks import CONFIGS, default_shared_data
from benchmarks.nanogpt import NanoGPT, from_nanogpt, to_nanogpt
from benchmarks.report import machine, write_section

CONFIG = CONFIGS / "gpt_shakespeare_char.yaml"
VARIANTS = {"tfmodels as configured": set(), "+ exact GELU": {"gelu"}, "+ nanoGPT's warm-up": {"warmup"},
            "+ PyTorch's epsilon": {"epsilon"}, "+ all three": {"gelu", "warmup", "epsilon"}}


def windows(stream: np.ndarray, steps: int, batch: int, block: int, seed: int = 1) -> dict:
    """`steps` batches of random training windows, nanoGPT's `get_batch`: x (steps, B, T), y shifted by one."""
    offsets = np.random.default_rng(seed).integers(0, len(stream) - block, size=(steps, batch))
    index = offsets[..., None] + np.arange(block + 1)  # (steps, B, T + 1)
    w = stream[index]
    return {"x": w[..., :-1].astype(np.int32), "y": w[..., 1:].astype(np.int32)}


def training_stream(config) -> np.ndarray:
    from tfmodels.tasks import task_for

    task = task_for(config)
    return task.prepare(task.load()).streams["train"]


def ours(config, start: dict, data: dict, changes: set) -> np.ndarray:
    """The loss of every step of tfmodels' training of the GPT from `start` on `data`, with `changes`."""
    import keras
    import tensorflow as tf

    from tfmodels.config import apply_overrides
    from tfmodels.models import build_gpt
    from tfmodels.training.optimizers import build_optimizer

    if "gelu" in changes:
        config = apply_overrides(config, ["model.gpt.activation=gelu"])
    keras.utils.set_random_seed(0)
    model = build_gpt(config.model, 65)
    from_nanogpt(model, start)
    t = config.trainer
    optimizer = build_optimizer(t, t.max_steps, 1)
    if "warmup" in changes:
        optimizer.learning_rate = nanogpt_warmup(optimizer._learning_rate)  # the schedule itself
    if "epsilon" in changes:
        torch_epsilon(optimizer)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=True)
    def step(x, y):  # Keras's train_step for a plain model: the loss, its gradient, the optimizer
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return np.array([float(step(x, y)) for x, y in zip(data["x"], data["y"])])


def nanogpt_warmup(schedule):
    """`schedule` (a WarmupDecay) shifted by one step during warm-up: peak x (step + 1) / (warmup + 1), nanoGPT's get_lr."""
    import keras
    from keras import ops

    class Shifted(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = ops.cast(step, "float32")
            warm = schedule.peak_learning_rate * (step + 1.0) / (schedule.warmup_steps + 1.0)
            return ops.where(step < schedule.warmup_steps, warm, schedule(step))

    return Shifted()


def torch_epsilon(optimizer) -> None:
    """Makes `optimizer` (FusedAdamW) use epsilon x sqrt(1 - beta_2^t) at step t: PyTorch's placement."""
    import types

    import tensorflow as tf

    keras_step = type(optimizer).update_step

    def update_step(self, gradient, variable, learning_rate):
        epsilon = self.epsilon
        t = tf.cast(self.iterations + 1, variable.dtype)
        self.epsilon = epsilon * tf.sqrt(1.0 - tf.pow(tf.cast(self.beta_2, variable.dtype), t))
        try:
            return keras_step(self, gradient, variable, learning_rate)
        finally:
            self.epsilon = epsilon

    optimizer.update_step = types.MethodType(update_step, optimizer)


def summary(name: str, losses: np.ndarray, reference: np.ndarray) -> dict:
    gap = np.abs(losses - reference)
    n = len(losses)
    return {"way": name, "step 0": gap[0], "steps 1-100": gap[1:101].mean(), f"steps {n - 100}-{n - 1}": gap[-100:].mean(),
            "mean loss, last 100": losses[-100:].mean(), "signed, last 100": (losses - reference)[-100:].mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--nanogpt", help="a checkout of karpathy/nanoGPT (default: $NANOGPT_DIR or ../nanoGPT)")
    parser.add_argument("--torch-python", help="a Python with torch (default: this one)")
    args = parser.parse_args()
    nanogpt = NanoGPT.find(args.nanogpt, args.torch_python)
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())

    import keras

    from tfmodels.config import apply_overrides, load_config
    from tfmodels.models import build_gpt

    config = apply_overrides(load_config(CONFIG), ["model.gpt.activation=gelu_approximate"])
    keras.utils.set_random_seed(1)
    start = to_nanogpt(build_gpt(config.model, 65))  # GPT-2's initialisation, ours
    g = config.model.gpt
    data = windows(training_stream(config), args.steps, config.trainer.batch_size, g.block_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "start.npz", **start)
        np.savez(tmp / "windows.npz", **data)
        nanogpt.side("lockstep", str(nanogpt.root), str(tmp / "start.npz"), str(tmp / "windows.npz"), str(tmp / "out.npz"))
        reference = np.load(tmp / "out.npz")["losses"]
    rows = [summary("nanoGPT (its train.py's step)", reference, reference)]
    for name, changes in VARIANTS.items():
        rows.append(summary(name, ours(config, start, data, changes), reference))
        print(rows[-1], flush=True)
    keys = list(rows[1])[1:]
    lines = ["## Our GPT and nanoGPT's from the same weights on the same windows (`benchmarks/gpt_lockstep.py`)", "",
             f"{machine()}. nanoGPT {nanogpt.commit()}, PyTorch {nanogpt.torch_version}, CPU. The race's model "
             f"(4 x 4 x 128, block 64, batch 12, no biases, tied), one initialisation, {args.steps} steps on one list "
             "of random training windows; |our loss - nanoGPT's loss| at each step (each program's loss of the "
             "batch before its update), averaged over the steps named:", "",
             "| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for r in rows:
        lines.append(f"| {r['way']} | " + " | ".join(f"{r[k]:.5f}" for k in keys) + " |")
    write_section("gpt-lockstep", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
