"""Chooses the tf.distribute strategy: the one place that knows about devices.

`auto` picks a TPU only when one is configured in the environment (Colab's `COLAB_TPU_ADDR`,
Cloud's `TPU_NAME`): an unconfigured TPU address is never contacted, so resolving never hangs.
Otherwise it picks `MirroredStrategy` over all GPUs when there are several, else the default
strategy (one device).
"""

from __future__ import annotations

import os

import tensorflow as tf

from tfmodels.errors import ConfigError

TPU_ENV_VARS = ("COLAB_TPU_ADDR", "TPU_NAME")


def resolve_strategy(name: str) -> tf.distribute.Strategy:
    if name == "auto":
        if any(os.environ.get(v) for v in TPU_ENV_VARS):
            return _tpu_strategy()
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
    if name == "tpu":
        return _tpu_strategy()
    raise ConfigError(
        f"runtime.strategy={name!r} is not available yet in this version; use auto, default, one_device or mirrored"
    )


def _tpu_strategy() -> tf.distribute.Strategy:
    address = os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or "local"
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
        raise ConfigError(f"runtime.strategy: no TPU reachable at {address!r}: {e}") from None
    return tf.distribute.TPUStrategy(resolver)
