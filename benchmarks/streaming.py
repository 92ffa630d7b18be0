"""Tokens per second from a corpus read as a stream (`text:GLOB?stream=true`) beside the in-memory path.

    python -m benchmarks.streaming [--work DIR] [--steps 300]

The corpus: WikiText-2's validation text (the shared data's `text_lm/wikitext-2/wiki.valid.tokens`) cut into
8 files (the stream; the last one held out for validation) and the same 7 training files given as a list of
specs (in memory). For each path, a masked LM (configs/mlm_synthetic.yaml's encoder: 2 x 64, sequence 128) and
a BPE GPT (2 x 64, block 64) train --steps steps by `trainer.max_steps`; measured: the training's tokens per
second (the run's own `tokens_per_second`, the median over its evaluation periods but the first, which holds
the compilation) and the time before the first step (reading, tokenizing, learning the vocabulary). Also the
input pipeline alone: sequences per second drawn from each path's training data set, no model. Writes the
"streaming" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section

FILES = 8


def shards(work: Path) -> list[Path]:
    lines = (Path(default_shared_data()) / "text_lm" / "wikitext-2" / "wiki.valid.tokens").read_text(
        encoding="utf-8").splitlines()
    folder = work / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // FILES)
    for i in range(FILES):
        (folder / f"part-{i}.txt").write_text("\n".join(lines[i * size:(i + 1) * size]) + "\n", encoding="utf-8")
    return sorted(folder.glob("part-*.txt"))


def overrides(kind: str, files: list[Path], streamed: bool, steps: int) -> list[str]:
    data = ([f"data.train=text:{files[0].parent}/part-*.txt?stream=true"] if streamed else
            ["data.train=[" + ", ".join(f'"text:{f}"' for f in files[:-1]) + "]", f"data.validation=text:{files[-1]}"])
    common = [*data, f"trainer.max_steps={steps}", f"trainer.eval_interval={steps // 3}", "logging.verbose=0",
              "logging.histogram_freq=0", "runtime.seed=1"]
    if kind == "mlm":
        return [*common, *(["data.validation=null"] if streamed else []), "data.tokenizer.vocabulary_size=8000",
                "data.tokenizer.sequence_length=128", "trainer.batch_size=32"]
    return [*common, "data.tokenizer.kind=bpe", "data.tokenizer.vocabulary_size=4000", "model.gpt.block_size=64",
            "model.gpt.num_layers=2", "model.gpt.width=64", "model.gpt.num_heads=4", "trainer.batch_size=32",
            "trainer.eval_batches=4", "trainer.warmup_steps=20"]


def measure(kind: str, files: list[Path], streamed: bool, steps: int, work: Path) -> dict:
    import csv

    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.train import train

    name = "mlm_synthetic" if kind == "mlm" else "gpt_shakespeare_char"
    config = apply_overrides(load_config(name), overrides(kind, files, streamed, steps))
    lines = []
    started = time.time()
    result = train(config, work / f"{kind}-{'stream' if streamed else 'memory'}-{time.time_ns()}", log=lines.append)
    first = next((line for line in lines if line.startswith("first training step done")), "")
    with open(result.paths.history, newline="") as f:
        rows = list(csv.DictReader(f))
    speeds = [float(r["tokens_per_second"]) for r in rows[1:]] if rows and "tokens_per_second" in rows[0] else []
    return {"tokens_per_second": statistics.median(speeds) if speeds else float("nan"),
            "first_step_seconds": float(first.split(",")[1].split()[0]) if first else float("nan"),
            "wall_seconds": time.time() - started, "val_loss": result.metrics["validation"]["loss"]}


def pipeline_rate(kind: str, files: list[Path], streamed: bool, work: Path, batches: int = 200) -> float:
    """Sequences a second drawn from the run's own training data set (no model): the task's `datasets`."""
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.tasks import task_for

    name = "mlm_synthetic" if kind == "mlm" else "gpt_shakespeare_char"
    config = apply_overrides(load_config(name), overrides(kind, files, streamed, 3 * batches))
    task = task_for(config.validate())
    data = task.prepare(task.load())
    train, _ = task.datasets(data, 32, seed=1, epochs=3, first_epoch=0)
    iterator = iter(train)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches - 1):
        next(iterator)
    return 32 * (batches - 1) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tfmodels-bench-streaming"))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    work = Path(args.work)
    files = shards(work)
    rows = ["| model | path | training tokens/s | input pipeline alone (sequences/s) | before the first step (s) | "
            "validation loss |", "|---|---|---:|---:|---:|---:|"]
    for kind, title in (("mlm", "masked LM, 2 x 64, sequence 128"), ("gpt", "BPE GPT, 2 x 64, block 64")):
        for streamed in (False, True):
            r = measure(kind, files, streamed, args.steps, work)
            rate = pipeline_rate(kind, files, streamed, work)
            path = "stream (`?stream=true`)" if streamed else "in memory"
            print(kind, path, r, f"pipeline {rate:.0f}/s", flush=True)
            rows.append(f"| {title} | {path} | {r['tokens_per_second']:,.0f} | {rate:,.0f} | "
                        f"{r['first_step_seconds']:.1f} | {r['val_loss']:.3f} |")
    body = ("## Corpora read as streams (`python -m benchmarks.streaming`)\n\n"
            f"WikiText-2's validation text in {FILES} files; {args.steps} steps of batch 32 by `trainer.max_steps` each "
            "way (the validation losses differ: the stream holds out its last file and reads consecutive windows; "
            "in memory, the same file is `data.validation` and the GPT draws random offsets). Tokens/s: the run's "
            "median over its evaluation periods after the first.\n\n" + "\n".join(rows))
    write_section("streaming", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
