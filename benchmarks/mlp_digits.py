"""The MLP on real digits: `tfmodels demo`'s wall time and accuracy, the optdigits protocol, and MNIST-5k.

    python -m benchmarks.mlp_digits [--shared-data ../shared/data] [--seeds 3]

Prints the numbers and writes them to the "mlp" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate


def time_demo(work: Path) -> tuple[float, dict]:
    """Runs `tfmodels demo` as a user does (a new process): (wall seconds, {model: test accuracy})."""
    started = time.time()
    out = subprocess.run(["tfmodels", "demo"], cwd=work, capture_output=True, text=True, check=True).stdout
    seconds = time.time() - started
    accuracies = {name.strip(): float(value) for name, value in
                  re.findall(r"^([^:\n]+):\s+test accuracy ([0-9.]+)", out, flags=re.M)}
    gpt = re.search(r"^character GPT: validation loss ([0-9.]+) per character \(a uniform guess: ([0-9.]+)\)", out,
                    flags=re.M)
    if gpt:  # the demo's last step: a loss, not an accuracy
        accuracies["character GPT, validation loss per character (a uniform guess: " + gpt.group(2) + ")"] = float(gpt.group(1))
    return seconds, accuracies


def run_config(config_file: str, seed: int, work: Path) -> dict:
    return train_and_evaluate(config_file, [f"runtime.seed={seed}"], work / f"{config_file}-seed{seed}")


def summarise(rows: list[dict]) -> str:
    acc = [r["accuracy"] for r in rows]
    secs = [r["seconds"] for r in rows]
    eps = [r["examples_per_second"] for r in rows]
    return (f"{statistics.median(acc):.4f} (min {min(acc):.4f}, max {max(acc):.4f}) | "
            f"{statistics.median(secs):.1f} | {statistics.median(eps):,.0f} | {rows[0]['examples']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    seeds = list(range(1, args.seeds + 1))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo_seconds, demo_accuracy = time_demo(work)
        demo_summary = "; ".join(f"{name} **{value:.4f}**" for name, value in demo_accuracy.items())
        print(f"tfmodels demo: {demo_seconds:.1f}s wall; {demo_summary}")
        results = {}
        for name, config_file in (("digits (built-in split, 270 test)", "mlp_digits.yaml"),
                                  ("optdigits.tra -> UCI test (1,797)", "mlp_optdigits.yaml"),
                                  ("MNIST-5k, held-out fifth (1,000)", "mlp_mnist5k.yaml")):
            results[name] = [run_config(config_file, seed, work) for seed in seeds]
            print(f"{name}: {summarise(results[name])}")

    lines = [
        "## MLP on real digits (`python -m benchmarks.mlp_digits`)",
        "",
        f"`tfmodels demo` (a new process, as the README runs it; TensorFlow start-up included): "
        f"**{demo_seconds:.1f} s** wall. Test accuracy (the GPT: its loss): {demo_summary}.",
        "",
        f"Each config trained with seeds {seeds} (`runtime.seed`), then `evaluate` on its test set:",
        "",
        "| data | test accuracy: median (min, max) | seconds (train + evaluate) | examples/s in fit | test examples |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {summarise(rows)} |" for name, rows in results.items()]
    write_section("mlp", "\n".join(lines))
    print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
