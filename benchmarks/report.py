"""The machine, the date, and a section of docs/benchmarks.md that one benchmark script owns."""

from __future__ import annotations

import datetime
import os
import platform
import re

from benchmarks import DOCS

REPORT = DOCS / "benchmarks.md"
CPUINFO = "/proc/cpuinfo"
HEADER = "# Benchmarks\n\nWritten by the scripts in `benchmarks/`; each owns one section and rewrites it when run.\n"


# The instruction sets that decide which precision pays on a CPU (`lscpu`'s flags): AVX2 only,
# AVX-512, bfloat16 dot products (AVX512-BF16), or matrix tiles (AMX).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpuinfo(key: str) -> str | None:
    """The first value of `key` in /proc/cpuinfo (None where it cannot be read)."""
    try:
        with open(CPUINFO) as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.split(":")[0].strip() == key)
    except (OSError, StopIteration):
        return None


def cpu_flags() -> list[str]:
    """Those of `SPEED_FLAGS` this CPU has (from /proc/cpuinfo; none where it cannot be read)."""
    have = set((cpuinfo("flags") or "").split())
    return [flag for flag in SPEED_FLAGS if flag in have]


def machine() -> str:
    cpu = cpuinfo("model name") or platform.processor() or "unknown CPU"
    # A virtual machine may name only the brand ("AMD EPYC"): family and model tell its generation
    # (AMD family 25: Zen 3/4, 26: Zen 5; Intel family 6 model 143: Sapphire Rapids).
    family, model, flags = cpuinfo("cpu family"), cpuinfo("model"), cpu_flags()
    generation = ", ".join(f"{key} {value}" for key, value in (("cpu family", family), ("model", model)) if value)
    details = [part for part in (generation, " ".join(flags)) if part]
    if details:
        cpu += f" ({'; '.join(details)})"
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    import keras
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {gpus} GPU; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}")


def now_stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, body: str, measured: str | None = None) -> None:
    """Replaces (or appends) the section between this script's markers in docs/benchmarks.md.

    `measured`: when the numbers were measured (default: now; a report rendered again from saved
    numbers passes their time).
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body.rstrip()}\n\nMeasured {measured or now_stamp()} on {machine()}.\n{end}"
    text = REPORT.read_text() if REPORT.exists() else HEADER
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
