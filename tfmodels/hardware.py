"""What this machine is good at, and the precision and XLA settings that follow from it.

`runtime.precision: auto` and `runtime.xla: auto` are resolved here, from the hardware:

| hardware                                    | precision        | xla                         |
|---------------------------------------------|------------------|-----------------------------|
| TPU                                         | mixed_bfloat16   | on (a TPU always compiles)  |
| GPU of compute capability 8 or more         | mixed_bfloat16   | on                          |
| other GPU                                   | mixed_float16    | on                          |
| CPU with fast bfloat16 (AMX, AVX512-BF16)   | mixed_bfloat16   | fusible                     |
| other CPU                                   | float32          | off                         |

`fusible` is TensorFlow's auto-clustering restricted to element-wise ops and reductions: casts,
dropout masks, GELU, layer norms and softmax are compiled by XLA into a few fused loops, while
matrix products stay with oneDNN (XLA's own CPU products are about 1.7x slower here, see
docs/performance.md). TensorFlow reads that setting once, from `TF_XLA_FLAGS`, when it starts:
`request_fusible_xla()` sets it, and must run before TensorFlow is imported (the `tfmodels`
command does; in a notebook, set the variable before `import tensorflow`).

Nothing in this module imports TensorFlow at import time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from tfmodels.errors import ConfigError

# Lazy compilation (on by default) runs a cluster's first calls as plain TensorFlow ops and compiles it
# later: numbers then depend on how often a function ran before (a resumed run evaluated differently).
FUSIBLE_XLA_FLAGS = ("--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit --tf_xla_ops_to_cluster=FUSIBLE "
                     "--tf_xla_enable_lazy_compilation=false")


def cpu_bfloat16() -> str | None:
    """The CPU feature that makes bfloat16 matrix products fast ("AMX" or "AVX512-BF16"), or None."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return None
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def may_use_fusible_xla(precision: str, xla: str, steps_per_execution: int = 1) -> bool:
    """Whether a run with these settings may choose the fusible clustering (so it must be asked for at start-up).

    Settings, not yet resolved: `auto` may become `mixed_bfloat16` and `fusible`; with several steps per
    execution `auto` stays off (the two cannot go together: see `resolve_xla`).
    """
    return (xla in ("auto", "fusible") and precision in ("auto", "mixed_bfloat16")
            and not (xla == "auto" and steps_per_execution > 1))


def request_fusible_xla() -> bool:
    """Asks TensorFlow, before it starts, to compile element-wise ops with XLA; True if it will.

    Does nothing (False) once TensorFlow is imported (too late: it read its flags), on a CPU
    without fast bfloat16 (measured: no gain in float32), or when `TF_XLA_FLAGS` already
    chooses an auto-clustering level (the user's choice wins).
    """
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "tensorflow" in sys.modules or cpu_bfloat16() is None or "--tf_xla_auto_jit" in flags:
        return fusible_xla_active()
    os.environ["TF_XLA_FLAGS"] = f"{flags} {FUSIBLE_XLA_FLAGS}".strip()
    return True


def fusible_xla_active() -> bool:
    """Whether this process's TensorFlow clusters element-wise ops (its flags were set before it started)."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    return "--tf_xla_ops_to_cluster=FUSIBLE" in flags and "--tf_xla_cpu_global_jit" in flags


def accelerator() -> tuple[str, str]:
    """("tpu" | "gpu" | "cpu", a description) of the device that trains."""
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return "tpu", "TPU"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return "gpu", f"GPU of compute capability {capability[0]}.{capability[1]}"
    feature = cpu_bfloat16()
    return "cpu", f"CPU with {feature}" if feature else "CPU without fast bfloat16"


def resolve_precision(setting: str) -> tuple[str, str]:
    """(precision, why) for `runtime.precision`; anything but "auto" is taken as it is."""
    if setting != "auto":
        return setting, "set in the config"
    kind, description = accelerator()
    if kind == "tpu":
        return "mixed_bfloat16", f"auto: {description}"
    if kind == "gpu":
        fast = int(description.split("capability ")[1].split(".")[0]) >= 8
        return ("mixed_bfloat16" if fast else "mixed_float16"), f"auto: {description}"
    return ("mixed_bfloat16" if cpu_bfloat16() else "float32"), f"auto: {description}"


def resolve_xla(setting: str, precision: str, steps_per_execution: int = 1) -> tuple[str, str]:
    """(xla mode "off" | "fusible" | "on", why) for `runtime.xla` and the run's resolved precision.

    Element-wise clustering and several steps per execution cannot go together: TensorFlow's
    clustering of the multi-step loop fails ("... nodes in a cycle"), so that is refused here.
    """
    if fusible_xla_active() and steps_per_execution > 1 and setting != "on":
        raise ConfigError(
            f"trainer.steps_per_execution={steps_per_execution} cannot be combined with element-wise XLA clustering "
            "(TF_XLA_FLAGS has --tf_xla_ops_to_cluster=FUSIBLE; TensorFlow's clustering of the multi-step loop "
            "fails): set trainer.steps_per_execution=1, or runtime.xla=off (or on) in a fresh process")
    if setting in ("off", "on"):
        return setting, "set in the config"
    if setting == "fusible":
        if not fusible_xla_active():
            return "off", ("runtime.xla=fusible, but TensorFlow started without it: run through the tfmodels "
                           f"command, or set TF_XLA_FLAGS='{FUSIBLE_XLA_FLAGS}' before importing TensorFlow")
        return "fusible", "set in the config"
    kind, description = accelerator()
    if kind in ("tpu", "gpu"):
        return "on", f"auto: {description}"
    if precision == "mixed_bfloat16" and cpu_bfloat16():
        if fusible_xla_active():
            return "fusible", f"auto: {description}; products stay on oneDNN"
        return "off", (f"auto: {description}, but TensorFlow started without element-wise clustering "
                       f"(set TF_XLA_FLAGS='{FUSIBLE_XLA_FLAGS}' before importing TensorFlow)")
    return "off", f"auto: {description}, {precision}"


@contextlib.contextmanager
def outside_xla():
    """Keeps the ops made inside out of XLA's clustering: for input pipelines, whose shapes change with
    every batch (ragged tokens, masks), so that compiled clusters would be compiled again and again
    (measured: masking 16,700 -> 300 sequences a second under fusible clustering). Eagerly, nothing to do."""
    import tensorflow as tf

    if tf.executing_eagerly():
        yield
    else:
        with tf.xla.experimental.jit_scope(compile_ops=False):
            yield
