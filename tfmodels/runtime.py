"""The runtime: which devices train, in which precision, with how much XLA, under which strategy.

Everything tfmodels knows about hardware is here: the CPU's bfloat16 features, the logical CPU
devices, the accelerator, `runtime.precision` and `runtime.xla` resolved from them, and the
tf.distribute strategy (`runtime.strategy`).

Precision and XLA (`auto` resolved from the hardware):

| hardware                                    | precision        | xla                         |
|---------------------------------------------|------------------|-----------------------------|
| TPU                                         | mixed_bfloat16   | on (a TPU always compiles)  |
| GPU of compute capability 8 or more         | mixed_bfloat16   | on                          |
| other GPU                                   | mixed_float16    | on                          |
| CPU with fast bfloat16 (AMX, AVX512-BF16)   | mixed_bfloat16   | fusible                     |
| other CPU                                   | float32          | off                         |

`fusible` is TensorFlow's auto-clustering restricted to element-wise ops and reductions: casts,
dropout masks, GELU, layer norms and softmax are compiled by XLA into a few fused loops, while
matrix products stay with oneDNN (XLA's own CPU products are slower here: docs/performance.md).
TensorFlow reads that setting once, from `TF_XLA_FLAGS`, when it starts: `request_fusible_xla()`
sets it, and must run before TensorFlow is imported (the `tfmodels` command does; in a notebook,
set the variable before `import tensorflow`).

Strategies: `auto` picks a TPU only when one is configured or attached: Colab's `COLAB_TPU_ADDR`,
Cloud's `TPU_NAME`, or a TPU VM's own chips (`TPU_ACCELERATOR_TYPE`, `/dev/accel0`, `/dev/vfio/0`).
It never probes an address nobody configured, and a configured address that does not answer within
`runtime.connect_timeout` seconds is an error, not a hang (TensorFlow itself waits forever).
Otherwise it picks `MirroredStrategy` over all GPUs when there are several, else the default
strategy (one device). `runtime.num_cpu_devices` splits the CPU into logical devices; TensorFlow
allows that only before it first touches a device, so `configure_devices` runs first thing.

Nothing in this module imports TensorFlow at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tfmodels.errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf

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


def may_use_fusible_xla(precision: str, xla: str, steps_per_execution: int = 1, varying_shapes: bool = False) -> bool:
    """Whether a run with these settings may choose the fusible clustering (so it must be asked for at start-up).

    Settings, not yet resolved: `auto` may become `mixed_bfloat16` and `fusible`; with several steps per
    execution, or batches whose length varies, `auto` stays off (see `resolve_xla`).
    """
    return (xla in ("auto", "fusible") and precision in ("auto", "mixed_bfloat16")
            and not (xla == "auto" and (steps_per_execution > 1 or varying_shapes)))


def request_fusible_xla() -> bool:
    """Asks TensorFlow, before it starts, to compile element-wise ops with XLA; True if it will.

    Does nothing (False) once TensorFlow's runtime has started (too late: it read its flags), on a
    CPU without fast bfloat16 (measured: no gain in float32), or when `TF_XLA_FLAGS` already
    chooses an auto-clustering level (the user's choice wins).
    """
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if tensorflow_started() or cpu_bfloat16() is None or "--tf_xla_auto_jit" in flags:
        return fusible_xla_active()
    os.environ["TF_XLA_FLAGS"] = f"{flags} {FUSIBLE_XLA_FLAGS}".strip()
    return True


def tensorflow_started() -> bool:
    """Whether TensorFlow's runtime (its eager context, with the devices) has started in this process.

    TensorFlow reads `TF_XLA_FLAGS` then, at the first op or device query, not at `import tensorflow`
    (measured with TF 2.21: an unknown flag set after the import, even after importing Keras, keras-hub
    and every tfmodels module, is reported only when the context starts).
    """
    if "tensorflow" not in sys.modules:
        return False
    from tensorflow.python.eager import context

    return bool(getattr(context.context(), "_initialized", True))  # unknown: assume started


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up lines (written to stderr before its logging starts) hidden.

    `TF_CPP_MIN_LOG_LEVEL` defaults to 3 (errors only); a user who sets it keeps their level, and with
    `TF_CPP_MIN_LOG_LEVEL=0` sees the start-up lines too.
    """
    if "tensorflow" in sys.modules:
        return
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if level == "0":
        import tensorflow  # noqa: F401
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def fusible_xla_active() -> bool:
    """Whether this process's TensorFlow clusters element-wise ops (its flags were set before it started)."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    return "--tf_xla_ops_to_cluster=FUSIBLE" in flags and "--tf_xla_cpu_global_jit" in flags


@dataclass(frozen=True)
class Accelerator:
    """The device that trains: its kind, a GPU's compute capability, and a description for the logs."""

    kind: str  # "tpu" | "gpu" | "cpu"
    description: str
    compute_capability: tuple[int, int] = (0, 0)


def accelerator() -> Accelerator:
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return Accelerator("tpu", "TPU")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        major, minor = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return Accelerator("gpu", f"GPU of compute capability {major}.{minor}", (major, minor))
    feature = cpu_bfloat16()
    return Accelerator("cpu", f"CPU with {feature}" if feature else "CPU without fast bfloat16")


def resolve_precision(setting: str) -> tuple[str, str]:
    """(precision, why) for `runtime.precision`; anything but "auto" is taken as it is."""
    if setting != "auto":
        return setting, "set in the config"
    device = accelerator()
    if device.kind == "tpu":
        return "mixed_bfloat16", f"auto: {device.description}"
    if device.kind == "gpu":
        fast = device.compute_capability[0] >= 8
        return ("mixed_bfloat16" if fast else "mixed_float16"), f"auto: {device.description}"
    return ("mixed_bfloat16" if cpu_bfloat16() else "float32"), f"auto: {device.description}"


def resolve_xla(setting: str, precision: str, steps_per_execution: int = 1,
                varying_shapes: bool = False, replicas: int = 1) -> tuple[str, str]:
    """(xla mode "off" | "fusible" | "on", why) for `runtime.xla` and the run's resolved precision.
    Whole-step XLA needs one replica: under several it is off (on a TPU, which compiles every step
    anyway, it stays on). The other rules are `_xla_mode`'s:

    Batches of varying length (`data.batch_by_length`) keep `auto` off: every new length compiles the
    clusters again (measured on MiniLM and SST-2: slower than no XLA at all, docs/benchmarks.md).

    Element-wise clustering and several steps per execution cannot go together: TensorFlow's
    clustering of the multi-step loop fails ("... nodes in a cycle"), so that is refused here.
    """
    mode, why = _xla_mode(setting, precision, steps_per_execution, varying_shapes)
    if mode == "on" and replicas > 1 and accelerator().kind != "tpu":
        # A step compiled whole under a strategy reads another replica's variables ("Trying to access
        # resource ... located in device CPU:1 from device CPU:0": the shipped GPT config on two replicas);
        # Keras's own `jit_compile="auto"` is off under tf.distribute.
        return "off", f"runtime.xla={setting} needs one replica; this run has {replicas}"
    return mode, why


def _xla_mode(setting: str, precision: str, steps_per_execution: int, varying_shapes: bool) -> tuple[str, str]:
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
    device = accelerator()
    if varying_shapes and device.kind == "cpu":
        return "off", "auto: batches of varying length (data.batch_by_length) would compile again at every length"
    if device.kind in ("tpu", "gpu"):
        return "on", f"auto: {device.description}"
    if precision == "mixed_bfloat16" and cpu_bfloat16():
        if fusible_xla_active():
            return "fusible", f"auto: {device.description}; products stay on oneDNN"
        return "off", (f"auto: {device.description}, but TensorFlow started without element-wise clustering "
                       f"(set TF_XLA_FLAGS='{FUSIBLE_XLA_FLAGS}' before importing TensorFlow)")
    return "off", f"auto: {device.description}, {precision}"


def check_static_shapes(batch_by_length: bool) -> None:
    """A TPU compiles the step again for every input shape: batches cut to their longest are refused there."""
    if batch_by_length and accelerator().kind == "tpu":
        raise ConfigError("data.batch_by_length makes batches of varying length, which a TPU would compile again for "
                          "each: set data.batch_by_length=false on a TPU")


@contextlib.contextmanager
def outside_xla():
    """Keeps the ops made inside out of XLA's clustering: for input pipelines, whose shapes change with
    every batch (ragged tokens, masks), so that compiled clusters would be compiled again and again
    (the measured cost is in docs/performance.md). Eagerly, nothing to do."""
    import tensorflow as tf

    if tf.executing_eagerly():
        yield
    else:
        with tf.xla.experimental.jit_scope(compile_ops=False):
            yield


# ---------------------------------------------------------------------------------------------
# Devices and strategies
# ---------------------------------------------------------------------------------------------

TPU_ENV_VARS = ("COLAB_TPU_ADDR", "TPU_NAME")
TPU_VM_SIGNS = ("TPU_ACCELERATOR_TYPE",)
TPU_VM_DEVICES = ("/dev/accel0", "/dev/vfio/0")


def configure_devices(num_cpu_devices: int) -> None:
    """Splits the CPU into `num_cpu_devices` logical devices (0 leaves it alone)."""
    import tensorflow as tf

    if num_cpu_devices == 0:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(num_cpu_devices)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != num_cpu_devices:
            raise ConfigError(
                f"runtime.num_cpu_devices={num_cpu_devices}, but TensorFlow in this process has already started with "
                f"{have} CPU device(s); it can only be split before TensorFlow starts: train in a fresh process "
                "(the command line does), or restart the notebook's kernel and set it before anything else"
            ) from None


def describe_devices() -> str:
    import tensorflow as tf

    kinds = {kind: len(tf.config.list_logical_devices(kind)) for kind in ("CPU", "GPU", "TPU")}
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)


def resolve_strategy(name: str, connect_timeout: float = 120.0) -> tf.distribute.Strategy:
    import tensorflow as tf

    if name == "auto":
        tpu = configured_tpu()
        if tpu is not None:
            return _tpu_strategy(tpu, connect_timeout)
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return _multi_worker_strategy()
    if name == "tpu":
        return _tpu_strategy(configured_tpu() or "local", connect_timeout)
    raise ConfigError(f"runtime.strategy={name!r} is unknown; use auto, default, one_device, mirrored, multi_worker or tpu")


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The `runtime.strategy` value that names this strategy (what `auto` chose, for the run's records)."""
    import tensorflow as tf

    if is_multi_worker(strategy):
        return "multi_worker"
    for kind, name in ((tf.distribute.TPUStrategy, "tpu"), (tf.distribute.MirroredStrategy, "mirrored"),
                       (tf.distribute.OneDeviceStrategy, "one_device")):
        if isinstance(strategy, kind):
            return name
    return "default"


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: always, except on a multi-worker cluster's non-chief workers.

    The chief is the task of type `chief`, or worker 0 when the cluster has no `chief` (Keras's rule).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not is_multi_worker(strategy) or resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_label(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if not is_multi_worker(strategy) or resolver is None or not resolver.task_type:
        return "single process"
    return f"{resolver.task_type} {resolver.task_id}"


def configured_tpu() -> str | None:
    """The TPU address the environment names, "local" for a TPU VM's own chips, or None."""
    for var in TPU_ENV_VARS:
        if os.environ.get(var):
            address = os.environ[var]
            return address if "://" in address or var == "TPU_NAME" else f"grpc://{address}"
    if any(os.environ.get(v) for v in TPU_VM_SIGNS) or any(Path(d).exists() for d in TPU_VM_DEVICES):
        return "local"
    return None


def _multi_worker_strategy() -> tf.distribute.Strategy:
    import tensorflow as tf

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError(
            "runtime.strategy=multi_worker needs the cluster in the TF_CONFIG environment variable; "
            "try it on one machine with `tfmodels launch --workers 2 CONFIG`"
        )
    try:
        tf_config = json.loads(raw)
        tf_config["cluster"], tf_config["task"]["type"], tf_config["task"]["index"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description ({e}): {raw[:200]}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy(address: str, connect_timeout: float) -> tf.distribute.Strategy:
    """Checks that the TPU answers within `connect_timeout` seconds, then connects.

    TensorFlow's own connection waits forever on an address that does not answer (and holds the
    interpreter while it waits, so a helper thread cannot time it out). So: a gRPC address is
    first probed with a plain TCP connection; a TPU name is resolved to its address in a child
    process that is stopped at the time limit; "local" (a TPU VM's own chips) needs no network.
    """
    import tensorflow as tf

    if address != "local":
        _check_reachable(_grpc_address(address, connect_timeout) if "://" not in address else address,
                         connect_timeout, address)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        first_line = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise ConfigError(f"runtime.strategy: no TPU usable at {address!r}: {first_line}") from None
    return tf.distribute.TPUStrategy(resolver)


def _grpc_address(name: str, timeout: float) -> str:
    """The gRPC address of the TPU called `name` (Cloud's API, asked from a child process under a time limit)."""
    code = ("import sys, tensorflow as tf; "
            "print(tf.distribute.cluster_resolver.TPUClusterResolver(tpu=sys.argv[1]).master())")
    try:
        result = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except subprocess.TimeoutExpired:
        raise ConfigError(f"runtime.strategy: the TPU named {name!r} could not be looked up within {timeout:g} s "
                          "(runtime.connect_timeout); check TPU_NAME and the network, or use strategy: auto") from None
    master = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or "://" not in master:
        error = (result.stderr.strip().splitlines() or ["no address"])[-1][:300]
        raise ConfigError(f"runtime.strategy: no TPU named {name!r} was found: {error}")
    return master


def _check_reachable(grpc_address: str, timeout: float, configured: str) -> None:
    host, _, port = grpc_address.split("://", 1)[1].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        reason = "did not answer" if isinstance(e, TimeoutError) else f"refused the connection ({e})"
        raise ConfigError(
            f"runtime.strategy: the TPU at {configured!r} {reason} within {timeout:g} s (runtime.connect_timeout); "
            "check the TPU's address and that it is running, or use strategy: auto"
        ) from None
