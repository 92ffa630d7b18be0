"""The race with nanoGPT: its CPU recipe on Tiny Shakespeare, both programs in one run, then how steps and generation scale.

    python -m benchmarks.gpt_race [--seeds 3] [--nanogpt DIR] [--torch-python PY] [--skip-scaling] [--only race|generation|wall]

1. For each seed, alternating: nanoGPT's `train.py` with its README's CPU command (`benchmarks/nanogpt.py`:
   where nanoGPT and PyTorch are, how to set them up), then `tfmodels train configs/gpt_shakespeare_char.yaml`
   as shipped, each one process timed from the command's start to its end (start-up, data, compilation,
   the 9 evaluations, checkpoints and, for ours, the text samples included). Both are then scored by the same
   code: `tfmodels evaluate` over the whole validation text (every character predicted once), nanoGPT's
   step-2,000 checkpoint loaded into our GPT (exact GELU, as its `nn.GELU()`). Also each program's own
   20-batch estimate, nanoGPT's median iteration time (from its log) and ours (a separate in-process run of
   250 steps timed step by step), tokens/s, and model-FLOP utilisation: nanoGPT's `estimate_mfu` count
   (6 N + 12 L T C per token, N without the position table) against this machine's float32 matrix-product
   ceiling.
2. How our median step grows with the block (64 -> 512) and the width (128 -> 512).
3. Generation: tokens/s for 256 new tokens at batch 1 and 16, ours with the key/value cache and
   without (the prefix recomputed every token, as nanoGPT's `generate`), beside keras-hub's
   `GPT2CausalLM.generate` on the same sizes and weights (`to_gpt2_backbone`), greedy, in this process.

4. `--only wall`: where our wall time goes besides the steps: one in-process run of the shipped config,
   timed by phase (set-up, the first call with its compilation, the steps, the evaluations, the work at
   each evaluation's end: text samples, gradient norm, checkpoints), and again without text samples.

Prints the numbers and writes the "gpt-race" (1, 2), "gpt-generation" (3) and "gpt-wall" (4) sections of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks import CONFIGS, REPO, default_shared_data
from benchmarks.nanogpt import NanoGPT, from_nanogpt, prepare_data
from benchmarks.report import machine, write_section

CONFIG = CONFIGS / "gpt_shakespeare_char.yaml"


# --- 1. The race ---------------------------------------------------------------------------------

def whole_validation_loss(run_dir: Path) -> float:
    """`tfmodels evaluate RUN`: the loss over every character of the run's validation text once."""
    done = subprocess.run([sys.executable, "-m", "tfmodels", "evaluate", str(run_dir)], cwd=REPO,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"evaluating {run_dir} failed:\n{done.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text())["evaluation"]["validation"]["loss"]


def race_seed(seed: int, run_dir: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tfmodels", "train", str(CONFIG), "--run-dir", str(run_dir),
                           "--set", f"runtime.seed={seed}", "--set", "logging.verbose=0"],
                          cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"seed {seed} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"seed": seed, "seconds": seconds, "val_loss": metrics["validation"]["loss"],
            "whole_val_loss": whole_validation_loss(run_dir), "steps": metrics["steps_trained"],
            "fit_seconds": metrics["fit_seconds"]}


def nanogpt_seed(nanogpt: NanoGPT, seed: int, dataset: Path, out_dir: Path, our_run: Path) -> dict:
    """nanoGPT's run of `seed`, and its step-2,000 checkpoint scored as ours: its weights in a copy of
    our run folder of the same data (same characters, same validation text), evaluated there."""
    result = nanogpt.train(dataset, out_dir, seed)
    weights = nanogpt.weights(result.pop("checkpoint"), out_dir / "weights.npz")
    if int(weights["iter_num"]) != 2000:
        raise RuntimeError(f"nanoGPT's checkpoint is from step {int(weights['iter_num'])}, not 2,000")
    from tfmodels.saving import load_keras_model

    scored = out_dir / "scored"
    shutil.copytree(our_run, scored, ignore=shutil.ignore_patterns("logs", "backup*"))
    ours = load_keras_model(scored / "model.keras")
    theirs = type(ours).from_config({**ours.get_config(), "activation": "gelu"})  # nanoGPT's nn.GELU(): exact
    theirs.build((None, ours.block_size))
    from_nanogpt(theirs, weights)
    theirs.save(scored / "model.keras")
    result["whole_val_loss"] = whole_validation_loss(scored)
    return result


class StepClock:
    """When each call of one `fit`'s training function ended, and at which step: with
    `steps_per_execution` N, Keras calls back once every N steps, so a step is the time between two
    calls over the steps between them."""

    def __init__(self):
        import keras

        ends = self.ends = []

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                ends.append((batch, time.perf_counter()))

        self.callback = _Callback()

    def median_ms(self, skip: int = 5) -> float:
        steps = [(t1 - t0) / (b1 - b0) for (b0, t0), (b1, t1) in zip(self.ends[skip:], self.ends[skip + 1:]) if b1 > b0]
        return 1000 * statistics.median(steps)


def median_step(overrides: list[str], steps: int, run_dir: Path) -> tuple[float, object]:
    """(median ms of a training step, the model) of the shipped config with `overrides`, `steps` steps."""
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIG), ["logging.verbose=0", "logging.text_samples=0",
                                                   f"trainer.max_steps={steps}", f"trainer.eval_interval={steps}",
                                                   "trainer.eval_batches=1", *overrides])
    clock = StepClock()
    result = train(config, run_dir, callbacks=[clock.callback])
    return clock.median_ms(), result.model


def flops_per_token(model) -> float:
    """nanoGPT's `estimate_mfu`: 6 N + 12 L T C model FLOPs per token (forward and backward), N the
    parameters without the position table."""
    n = sum(int(np.prod(w.shape)) for w in model.weights) - int(np.prod(model.wpe.position_embeddings.shape))
    return 6 * n + 12 * model.num_layers * model.block_size * model.width


def ceiling_gflops() -> float:
    from benchmarks.suite import ceiling

    return ceiling(2048, 5)["float32"]["median"]


# --- 4. Where the wall goes --------------------------------------------------------------------------

class PhaseClock:
    """Stamps of one `fit`, from a callback that runs after the run's own: the time between an
    evaluation's end and this callback's `on_epoch_end` is what the run's callbacks do there."""

    def __init__(self):
        import keras

        self.stamps = stamps = []

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                stamps.append(("train_begin", time.perf_counter()))

            def on_train_batch_end(self, batch, logs=None):
                stamps.append(("batch", time.perf_counter()))

            def on_test_begin(self, logs=None):
                stamps.append(("test_begin", time.perf_counter()))

            def on_test_end(self, logs=None):
                stamps.append(("test_end", time.perf_counter()))

            def on_epoch_end(self, epoch, logs=None):
                stamps.append(("epoch_end", time.perf_counter()))

        self.callback = _Callback()

    def phases(self, started: float, returned: float) -> dict:
        """Seconds by phase; the first evaluation and the first evaluation's end apart (they compile)."""
        out = {"set-up (data, model)": self.stamps[0][1] - started, "first call (compiling, 10 steps)": 0.0,
               "training steps": 0.0, "first evaluation": 0.0, "other evaluations": 0.0,
               "first evaluation's end (text samples, gradient norm, checkpoints)": 0.0,
               "other evaluations' ends": 0.0, "after training (model file, plots)": 0.0}
        evaluations = 0
        for (_, t0), (what, t1) in zip(self.stamps, self.stamps[1:]):
            if what == "batch":
                first = not out["first call (compiling, 10 steps)"]
                out["first call (compiling, 10 steps)" if first else "training steps"] += t1 - t0
            elif what == "test_end":
                out["first evaluation" if not evaluations else "other evaluations"] += t1 - t0
            elif what == "epoch_end":
                key = "first evaluation's end (text samples, gradient norm, checkpoints)"
                out[key if not evaluations else "other evaluations' ends"] += t1 - t0
                evaluations += 1
            elif what == "test_begin":
                out["training steps"] += t1 - t0
        out["after training (model file, plots)"] = returned - self.stamps[-1][1]
        return out


def wall_phases(overrides: list[str], run_dir: Path) -> dict:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIG), ["logging.verbose=0", *overrides])
    clock, started = PhaseClock(), time.perf_counter()
    train(config, run_dir, callbacks=[clock.callback])
    return clock.phases(started, time.perf_counter())


def write_wall() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        import tfmodels.verbs.train  # noqa: F401  (TensorFlow, Keras, keras-hub)

        imports = time.perf_counter() - started
        shipped = wall_phases([], Path(tmp) / "shipped")
        without = wall_phases(["logging.text_samples=0"], Path(tmp) / "no-samples")
    lines = ["## Where the character GPT's wall time goes (`benchmarks/gpt_race.py --only wall`)", "",
             f"`configs/gpt_shakespeare_char.yaml` as shipped, in this process (imports: {imports:.1f} s), timed by "
             "phase from a callback that runs after the run's own; then the same without text samples:", "",
             "| phase | seconds, as shipped | without text samples |", "|---|---|---|"]
    lines += [f"| {phase} | {shipped[phase]:.2f} | {without[phase]:.2f} |" for phase in shipped]
    lines.append(f"| **total** | **{sum(shipped.values()):.1f}** | **{sum(without.values()):.1f}** |")
    write_section("gpt-wall", "\n".join(lines))
    print("\n".join(lines))


# --- 3. Generation ---------------------------------------------------------------------------------

def generation(new_tokens: int = 256, batches=(1, 16), repeats: int = 3) -> list[dict]:
    import keras_hub
    import tensorflow as tf

    from tfmodels.converters.keras_hub_gpt2 import to_gpt2_backbone
    from tfmodels.decoding.generation import compiled_generate, make_sampler
    from tfmodels.models import GPT

    length = 1 + new_tokens  # one prompt token
    ours = GPT(65, length, width=128, num_layers=4, num_heads=4)  # the race's sizes, a block that holds it all
    ours.build((None, length))
    hub = keras_hub.models.GPT2CausalLM(backbone=to_gpt2_backbone(ours), preprocessor=None)
    hub.compile(sampler=keras_hub.samplers.GreedySampler())  # keras-hub's default is top-k sampling
    hub_xla = keras_hub.models.GPT2CausalLM(backbone=hub.backbone, preprocessor=None)
    hub_xla.compile(sampler=keras_hub.samplers.GreedySampler(), jit_compile=True)  # XLA asked for by hand
    cached = compiled_generate(ours, make_sampler("greedy"))
    cached_xla = compiled_generate(ours, make_sampler("greedy"), jit_compile=True)  # as `tfmodels generate`

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32)], reduce_retracing=True)
    def next_token(prefix):  # no cache: the whole prefix again for every token
        return tf.argmax(ours(prefix)[:, -1], axis=-1, output_type=tf.int32)

    def uncached(ids, mask):
        prefix = ids[:, :1]
        for _ in range(new_tokens):
            prefix = tf.concat([prefix, next_token(prefix)[:, None]], axis=1)
        return prefix

    rows = []
    for batch in batches:
        ids = np.zeros((batch, length), np.int32)
        ids[:, 0] = np.arange(batch) % 65
        mask = np.zeros_like(ids, bool)
        mask[:, 0] = True
        ways = {"ours, with the cache, XLA-compiled loop (`tfmodels generate`)": lambda: np.asarray(cached_xla(ids, mask)),
                "ours, with the cache": lambda: np.asarray(cached(ids, mask)),
                "ours, without a cache": lambda: np.asarray(uncached(ids, mask)),
                "keras-hub GPT2CausalLM.generate": lambda: np.asarray(
                    hub.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)["token_ids"]),
                "keras-hub GPT2CausalLM.generate, jit_compile=True": lambda: np.asarray(
                    hub_xla.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)["token_ids"])}
        outputs = {}
        for name, fn in ways.items():
            outputs[name] = fn()  # the first call traces and compiles
            seconds = []
            for _ in range(repeats):
                started = time.perf_counter()
                fn()
                seconds.append(time.perf_counter() - started)
            rows.append({"batch": batch, "way": name, "tokens_per_second": batch * new_tokens / statistics.median(seconds)})
            print(rows[-1], flush=True)
        same = all(np.array_equal(outputs["ours, with the cache"], o) for o in outputs.values())
        rows.append({"batch": batch, "way": "same tokens every way", "same": bool(same)})
    return rows


# --- the report -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--nanogpt", help="a checkout of karpathy/nanoGPT (default: $NANOGPT_DIR or ../nanoGPT)")
    parser.add_argument("--torch-python", help="a Python with torch (default: this one)")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--only", choices=["race", "generation", "wall"], help="one part (default: race and generation)")
    args = parser.parse_args()
    if args.only == "wall":
        os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
        return write_wall()
    nanogpt = NanoGPT.find(args.nanogpt, args.torch_python) if args.only != "generation" else None
    if args.only != "race":
        write_generation()
    if args.only == "generation":
        return
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    lines = ["## The race with nanoGPT: `configs/gpt_shakespeare_char.yaml` (`benchmarks/gpt_race.py`)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = prepare_data(Path(args.shared_data) / "text_lm" / "tinyshakespeare" / "input.txt", tmp / "nanogpt-data")
        seeds, theirs = [], []
        for seed in range(1, args.seeds + 1):  # alternating, so that both see the same machine over time
            seeds.append(race_seed(seed, tmp / f"seed{seed}"))
            print("tfmodels", seeds[-1], flush=True)
            theirs.append(nanogpt_seed(nanogpt, seed, dataset, tmp / f"nanogpt{seed}", tmp / f"seed{seed}"))
            print("nanoGPT", theirs[-1], flush=True)
        step_ms, model = median_step([], 250, tmp / "steps")
        tokens_per_step = 12 * model.block_size
        ceiling = ceiling_gflops()
        flops = flops_per_token(model) * tokens_per_step / 1e9  # per step

        def med(rows, key):
            return statistics.median(r[key] for r in rows)

        def spread(rows, key):
            return f"{min(r[key] for r in rows):.4f} - {max(r[key] for r in rows):.4f}"

        their_ms = med(theirs, "ms_per_step")
        ratio_wall, ratio_step = med(seeds, "seconds") / med(theirs, "seconds"), step_ms / their_ms
        lines += [
            f"{machine()}. nanoGPT {nanogpt.commit()}, PyTorch {nanogpt.torch_version} (CPU), with its README's CPU "
            "command (4 x 4 x 128, block 64, batch 12, 2,000 steps, 20-batch evaluations every 250), and "
            f"`tfmodels train` as shipped, {args.seeds} seeds each, alternating in this one run, each process timed "
            "from start to end. Validation loss at step 2,000 two ways: each program's own estimate from 20 "
            "random batches of 12 windows, and the whole validation text, every character predicted once, "
            "by the same code for both (`tfmodels evaluate`; nanoGPT's step-2,000 checkpoint loaded into our "
            "GPT):",
            "",
            "| | val loss, whole text (median) | min - max | own 20-batch estimate (median) | wall seconds (median) "
            "| ms per step (median) | tokens/s | MFU (float32 ceiling) |",
            "|---|---|---|---|---|---|---|---|",
            f"| tfmodels | **{med(seeds, 'whole_val_loss'):.4f}** | {spread(seeds, 'whole_val_loss')} | "
            f"{med(seeds, 'val_loss'):.4f} | **{med(seeds, 'seconds'):.1f}** | {step_ms:.1f} | "
            f"{tokens_per_step / step_ms * 1000:,.0f} | {flops / (step_ms / 1000) / ceiling:.1%} of {ceiling:.0f} GFLOP/s |",
            f"| nanoGPT | **{med(theirs, 'whole_val_loss'):.4f}** | {spread(theirs, 'whole_val_loss')} | "
            f"{med(theirs, 'val_loss'):.4f} | **{med(theirs, 'seconds'):.1f}** | {their_ms:.1f} | "
            f"{tokens_per_step / their_ms * 1000:,.0f} | {flops / (their_ms / 1000) / ceiling:.1%} |",
            "",
            f"Ours over nanoGPT's: wall {ratio_wall:.2f}x, ms per step {ratio_step:.2f}x (target: 0.8x or less: "
            f"{'met' if max(ratio_wall, ratio_step) <= 0.8 else 'not met'}); whole-text loss "
            f"{med(seeds, 'whole_val_loss') - med(theirs, 'whole_val_loss'):+.4f} (target: <= 0: "
            f"{'met' if med(seeds, 'whole_val_loss') <= med(theirs, 'whole_val_loss') else 'not met'}). Per seed: "
            + "; ".join(f"seed {s['seed']}: ours {s['whole_val_loss']:.4f} in {s['seconds']:.1f} s (fit "
                        f"{s['fit_seconds']:.1f} s), nanoGPT {t['whole_val_loss']:.4f} in {t['seconds']:.1f} s"
                        for s, t in zip(seeds, theirs)) + ".",
        ]
        write_section("gpt-race", "\n".join(lines))  # what is measured so far, should a later part fail
        if not args.skip_scaling:
            lines += ["", "The median training step as the block and the width grow (batch 12, 4 layers, 4 heads; "
                      "120 steps each):", "", "| block | width | ms per step | tokens/s |", "|---|---|---|---|"]
            for block, width in [(64, 128), (128, 128), (256, 128), (512, 128), (64, 256), (64, 384), (64, 512)]:
                ms, _ = median_step([f"model.gpt.block_size={block}", f"model.gpt.width={width}",
                                     "trainer.warmup_steps=5"], 120,  # 12 calls of 10 steps: 6 timed after 5 skipped
                                    tmp / f"scale-{block}-{width}")
                lines.append(f"| {block} | {width} | {ms:.1f} | {12 * block / ms * 1000:,.0f} |")
                print(lines[-1], flush=True)
    write_section("gpt-race", "\n".join(lines))
    print("\n".join(lines))


def write_generation() -> None:
    rows = generation()
    lines = ["## Generation: the cache, and keras-hub (`benchmarks/gpt_race.py`)", "",
             "Greedy, 256 new tokens after one prompt token (4 x 4 x 128, vocabulary 65, a block of 257, "
             "random weights), the median of 3 calls after the first (which compiles):", "",
             "| batch | way | tokens/s |", "|---|---|---|"]
    lines += [f"| {r['batch']} | {r['way']} | {r['tokens_per_second']:,.0f} |" for r in rows if "same" not in r]
    speed = {(r["batch"], r["way"].split(" (")[0]): r["tokens_per_second"] for r in rows if "same" not in r}
    lines += ["", "Ours over keras-hub's (target: 1.5x): " + ", ".join(
        f"batch {b}: {speed[(b, 'ours, with the cache, XLA-compiled loop')] / speed[(b, 'keras-hub GPT2CausalLM.generate')]:.2f}x"
        f" (XLA loop), {speed[(b, 'ours, with the cache')] / speed[(b, 'keras-hub GPT2CausalLM.generate')]:.2f}x (graph)"
        for b in sorted({r['batch'] for r in rows})) + ". keras-hub's `generate` is a `tf.function` without XLA "
        "on a machine without a GPU (Keras turns `jit_compile` auto off there); compiled with `jit_compile=True` "
        "by hand it is the last row of each batch."]
    lines += ["", "All ways give the same tokens: " + ", ".join(
        f"batch {r['batch']}: {'yes' if r['same'] else 'NO'}" for r in rows if "same" in r) + "."]
    write_section("gpt-generation", "\n".join(lines))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
