"""nanoGPT's side of the comparisons in `gpt_race.py` and `gpt_lockstep.py`: run under PyTorch, in its own process.

    python benchmarks/nanogpt_side.py lockstep NANOGPT_DIR START.npz WINDOWS.npz OUT.npz [--steps N]
    python benchmarks/nanogpt_side.py export CKPT.pt OUT.npz

`lockstep` builds nanoGPT's own `GPT` (its `model.py`, imported from NANOGPT_DIR, the race's sizes),
loads the weights in START.npz (nanoGPT's parameter names, PyTorch's layouts), and trains it on the
windows in WINDOWS.npz (`x`, `y`: (steps, B, T)) exactly as nanoGPT's `train.py` trains: its
`configure_optimizers` (AdamW, decay on every 2-D tensor), its `get_lr` (copied below: `train.py`
runs on import), global-norm clipping at 1.0. It writes the loss of every step (before that step's
update) and the final weights. `export` writes a `train.py` checkpoint's weights as an .npz.

PyTorch is not a dependency of tfmodels: this file is only run by the benchmarks, with a Python
that has `torch` (`pip install torch==2.13.0` here).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch

# nanoGPT's CPU recipe: README "I only have a macbook", config/train_shakespeare_char.py.
RECIPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, bias=False, vocab_size=65, dropout=0.0)
LEARNING_RATE, MIN_LR, WARMUP_ITERS, LR_DECAY_ITERS = 1e-3, 1e-4, 100, 2000
WEIGHT_DECAY, BETAS, GRAD_CLIP = 0.1, (0.9, 0.99), 1.0


def get_lr(it: int) -> float:
    """nanoGPT's `train.py` `get_lr`, as it stands (linear warm-up from lr / 101, cosine to MIN_LR)."""
    if it < WARMUP_ITERS:
        return LEARNING_RATE * (it + 1) / (WARMUP_ITERS + 1)
    if it > LR_DECAY_ITERS:
        return MIN_LR
    decay_ratio = (it - WARMUP_ITERS) / (LR_DECAY_ITERS - WARMUP_ITERS)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return MIN_LR + coeff * (LEARNING_RATE - MIN_LR)


def nanogpt_model(nanogpt_dir: str, weights: dict):
    sys.path.insert(0, nanogpt_dir)
    from model import GPT, GPTConfig  # nanoGPT's model.py

    model = GPT(GPTConfig(**RECIPE))
    state = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in weights.items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]  # tied, as nanoGPT ties them
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith(".attn.bias")]  # the causal mask buffer (no flash attention)
    if missing or unexpected:
        raise SystemExit(f"weights do not fit nanoGPT's GPT: missing {missing}, unexpected {unexpected}")
    return model


def lockstep(nanogpt_dir: str, start: str, windows: str, out: str, steps: int | None) -> None:
    torch.manual_seed(0)
    model = nanogpt_model(nanogpt_dir, dict(np.load(start)))
    data = np.load(windows)
    xs, ys = torch.from_numpy(data["x"].astype(np.int64)), torch.from_numpy(data["y"].astype(np.int64))
    steps = len(xs) if steps is None else steps
    optimizer = model.configure_optimizers(WEIGHT_DECAY, LEARNING_RATE, BETAS, "cpu")
    model.train()
    losses = []
    for it in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        _, loss = model(xs[it], ys[it])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    final = {k: v.detach().numpy() for k, v in model.state_dict().items() if not k.endswith(".attn.bias")}
    np.savez(out, losses=np.array(losses), **final)


def export(checkpoint: str, out: str) -> None:
    state = torch.load(checkpoint, map_location="cpu")
    weights = {k.removeprefix("_orig_mod."): v.numpy() for k, v in state["model"].items() if not k.endswith(".attn.bias")}
    np.savez(out, iter_num=np.array(state["iter_num"]), **weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    step = verbs.add_parser("lockstep")
    step.add_argument("nanogpt_dir")
    step.add_argument("start")
    step.add_argument("windows")
    step.add_argument("out")
    step.add_argument("--steps", type=int)
    step.add_argument("--threads", type=int)
    ex = verbs.add_parser("export")
    ex.add_argument("checkpoint")
    ex.add_argument("out")
    args = parser.parse_args()
    if args.verb == "lockstep":
        if args.threads:
            torch.set_num_threads(args.threads)
        lockstep(args.nanogpt_dir, args.start, args.windows, args.out, args.steps)
    else:
        export(args.checkpoint, args.out)


if __name__ == "__main__":
    main()
