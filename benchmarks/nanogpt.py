"""nanoGPT beside tfmodels: where it is, its data, its runs, and its weights in our GPT.

nanoGPT (karpathy/nanoGPT) and PyTorch are not dependencies of tfmodels; the benchmarks that race
it find them here. To set them up (outside the repository):

    git clone https://github.com/karpathy/nanoGPT ../nanoGPT     # or any folder: --nanogpt DIR / $NANOGPT_DIR
    pip install torch==2.13.0                                     # into this Python, or --torch-python PY

nanoGPT's `data/shakespeare_char/prepare.py` downloads the text; `prepare_data` writes the same
files (`train.bin`, `val.bin`, `meta.pkl`: the sorted characters of the whole text, the first 90%
for training) from the shared copy instead, into a temporary folder passed as `--dataset`.
"""

from __future__ import annotations

import os
import pickle
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import REPO

SIDE = Path(__file__).with_name("nanogpt_side.py")  # run under PyTorch
SETUP = ("set it up with `git clone https://github.com/karpathy/nanoGPT ../nanoGPT` and `pip install torch==2.13.0` "
         "(or pass --nanogpt DIR and --torch-python PY)")

# The README's CPU command ("I only have a macbook"), and a checkpoint at every evaluation, so that
# the one written at step 2,000 is the last step's, not the best 20-batch estimate's.
RECIPE = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1",
          "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
          "--lr_decay_iters=2000", "--dropout=0.0", "--always_save_checkpoint=True"]


@dataclass
class NanoGPT:
    root: Path  # a checkout of karpathy/nanoGPT
    python: str  # a Python with torch
    torch_version: str = ""

    @classmethod
    def find(cls, root: str | None, python: str | None) -> "NanoGPT":
        """The checkout at `root`, $NANOGPT_DIR or ../nanoGPT, and a Python that imports torch; a one-line error otherwise."""
        folder = Path(root or os.environ.get("NANOGPT_DIR") or REPO.parent / "nanoGPT")
        if not (folder / "train.py").is_file() or not (folder / "model.py").is_file():
            raise SystemExit(f"nanoGPT: no checkout at '{folder}'; {SETUP}")
        python = python or sys.executable
        probe = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
        if probe.returncode:
            raise SystemExit(f"nanoGPT: '{python}' cannot import torch; {SETUP}")
        return cls(folder.resolve(), python, probe.stdout.strip())

    def commit(self) -> str:
        done = subprocess.run(["git", "-C", str(self.root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return done.stdout.strip() or "unknown commit"

    def train(self, dataset: Path, out_dir: Path, seed: int) -> dict:
        """One `python train.py` of the CPU recipe, timed from start to end as `time` would: wall
        seconds, the median of its per-iteration times, and its last 20-batch validation estimate.
        `seed`: nanoGPT seeds with 1337 and has no option for it; the seed is written into a copy of
        train.py (1337 -> 1337 + seed - 1, so seed 1 is nanoGPT as shipped)."""
        script = self.root / "train.py"
        source = script.read_text()
        if "torch.manual_seed(1337 + seed_offset)" not in source:
            raise SystemExit(f"nanoGPT: '{script}' no longer seeds with torch.manual_seed(1337 + seed_offset)")
        seeded = self.root / f"train_seed{seed}.py"
        seeded.write_text(source.replace("1337 + seed_offset", f"{1336 + seed} + seed_offset"))
        try:
            started = time.perf_counter()
            done = subprocess.run([self.python, seeded.name, *RECIPE, f"--dataset={dataset}", f"--out_dir={out_dir}"],
                                  cwd=self.root, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())})
            seconds = time.perf_counter() - started
        finally:
            seeded.unlink()
        if done.returncode:
            raise RuntimeError(f"nanoGPT seed {seed} failed:\n{done.stderr[-3000:]}")
        steps = [float(ms) for ms in re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", done.stdout, re.M)]
        estimates = re.findall(r"^step (\d+): train loss [\d.]+, val loss ([\d.]+)", done.stdout, re.M)
        return {"seed": seed, "seconds": seconds, "ms_per_step": statistics.median(steps[5:]),
                "val_loss": float(estimates[-1][1]), "checkpoint": out_dir / "ckpt.pt"}

    def side(self, *args: str) -> None:
        done = subprocess.run([self.python, str(SIDE), *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"nanogpt_side.py {args[0]} failed:\n{done.stderr[-3000:]}")

    def weights(self, checkpoint: Path, out: Path) -> dict:
        """A `train.py` checkpoint's weights (nanoGPT's names and layouts), and its `iter_num`."""
        self.side("export", str(checkpoint), str(out))
        return dict(np.load(out))


def prepare_data(text_file: Path, folder: Path) -> Path:
    """nanoGPT's shakespeare_char files from `text_file`, as its prepare.py writes them."""
    data = text_file.read_text()
    chars = sorted(set(data))
    stoi = {ch: i for i, ch in enumerate(chars)}
    cut = int(len(data) * 0.9)
    folder.mkdir(parents=True, exist_ok=True)
    np.array([stoi[c] for c in data[:cut]], np.uint16).tofile(folder / "train.bin")
    np.array([stoi[c] for c in data[cut:]], np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)
    return folder


# --- weights: our GPT <-> nanoGPT's state dict ---------------------------------------------------
# nanoGPT's nn.Linear stores (out, in), Keras's Dense (in, out): the matrices are transposed. The
# token embedding is tied (lm_head.weight is transformer.wte.weight) in both.

def _pairs(model):
    yield "transformer.wte.weight", model.wte.embeddings, False
    yield "transformer.wpe.weight", model.wpe.position_embeddings, False
    for i, block in enumerate(model.blocks):
        h = f"transformer.h.{i}."
        yield h + "ln_1.weight", block.ln_1.gamma, False
        yield h + "attn.c_attn.weight", block.attn.c_attn.kernel, True
        yield h + "attn.c_proj.weight", block.attn.c_proj.kernel, True
        yield h + "ln_2.weight", block.ln_2.gamma, False
        yield h + "mlp.c_fc.weight", block.c_fc.kernel, True
        yield h + "mlp.c_proj.weight", block.c_proj.kernel, True
    yield "transformer.ln_f.weight", model.ln_f.gamma, False


def to_nanogpt(model) -> dict:
    """Our GPT's weights (no biases, tied) under nanoGPT's names, in PyTorch's layouts."""
    if model.use_bias or not model.tie_weights:
        raise ValueError("nanoGPT's CPU recipe has no biases and a tied embedding: build the GPT with use_bias=False")
    return {name: (np.asarray(v).T if transpose else np.asarray(v)).copy() for name, v, transpose in _pairs(model)}


def from_nanogpt(model, state: dict) -> None:
    """Loads nanoGPT's weights (`to_nanogpt`'s names and layouts) into our GPT of the same sizes."""
    for name, variable, transpose in _pairs(model):
        value = state[name].T if transpose else state[name]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{name}: nanoGPT's {state[name].shape} does not fit {variable.path} {variable.shape}")
        variable.assign(value)

