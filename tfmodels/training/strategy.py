"""Chooses the tf.distribute strategy: the one place that knows about devices and clusters.

`auto` picks a TPU only when one is configured or attached: Colab's `COLAB_TPU_ADDR`, Cloud's
`TPU_NAME`, or a TPU VM's own chips (`TPU_ACCELERATOR_TYPE`, `/dev/accel0`, `/dev/vfio/0`). It never
probes an address nobody configured, and a configured address that does not answer within
`runtime.connect_timeout` seconds is an error, not a hang (TensorFlow itself waits forever).
Otherwise it picks `MirroredStrategy` over all GPUs when there are several, else the default
strategy (one device).

`runtime.num_cpu_devices` splits the CPU into logical devices; TensorFlow allows that only before
it first touches a device, so `configure_devices` runs first thing in a training process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from tfmodels.errors import ConfigError

TPU_ENV_VARS = ("COLAB_TPU_ADDR", "TPU_NAME")
TPU_VM_SIGNS = ("TPU_ACCELERATOR_TYPE",)
TPU_VM_DEVICES = ("/dev/accel0", "/dev/vfio/0")


def configure_devices(num_cpu_devices: int) -> None:
    """Splits the CPU into `num_cpu_devices` logical devices (0 leaves it alone)."""
    if num_cpu_devices < 0:
        raise ConfigError(f"runtime.num_cpu_devices must be 0 (leave the CPU as it is) or more, got {num_cpu_devices}")
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
    kinds = {kind: len(tf.config.list_logical_devices(kind)) for kind in ("CPU", "GPU", "TPU")}
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)


def resolve_strategy(name: str, connect_timeout: float = 120.0) -> tf.distribute.Strategy:
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
    if is_multi_worker(strategy):
        return "multi_worker"
    for kind, name in ((tf.distribute.TPUStrategy, "tpu"), (tf.distribute.MirroredStrategy, "mirrored"),
                       (tf.distribute.OneDeviceStrategy, "one_device")):
        if isinstance(strategy, kind):
            return name
    return "default"


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
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
