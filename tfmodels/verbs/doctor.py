"""`tfmodels doctor`: what a user needs to know before a long run, in a few seconds.

Library versions and whether they go together, the devices, the strategy `auto` would choose,
whether bfloat16 is fast here, and whether TFDS could download. A combination known not to work
makes the exit code 1.
"""

from __future__ import annotations

import importlib.metadata

# The combination this version of tfmodels is tested with (requirements.txt).
TESTED = {"tensorflow": "2.21", "keras": "3.15", "keras-hub": "0.32", "tensorflow-text": "2.21",
          "tensorflow-datasets": "4.9"}


def installed_versions() -> dict[str, str | None]:
    found = {}
    for package in TESTED:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None


def version_problems(found: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """(known-bad problems, untested differences) of a {package: version} mapping."""
    bad, untested = [], []
    for package in ("tensorflow", "keras", "keras-hub", "tensorflow-text"):
        if found.get(package) is None:
            bad.append(f"{package} is not installed: pip install -e . installs the tested versions")
    tf, text, keras = found.get("tensorflow"), found.get("tensorflow-text"), found.get("keras")
    if tf and text and _minor(tf) != _minor(text):
        bad.append(f"tensorflow-text {text} is built for TensorFlow {_minor(text)}, but TensorFlow is {tf}: its ops "
                   f"will not load; install tensorflow-text=={_minor(tf)}.*")
    if keras and not keras.startswith("3."):
        bad.append(f"keras {keras}: tfmodels needs Keras 3 (pip install 'keras>=3')")
    for package, tested in TESTED.items():
        version = found.get(package)
        if version and _minor(version) != tested and not any(package in problem for problem in bad):
            untested.append(f"{package} {version} (tested: {tested}.*)")
    return bad, untested


def report() -> tuple[list[str], int]:
    """The lines `tfmodels doctor` prints, and its exit code (1 on a known-bad combination)."""
    import tensorflow as tf

    from tfmodels.data.tfds_source import network_reachable
    from tfmodels.runtime import (
        configured_tpu,
        cpu_bfloat16,
        fusible_xla_active,
        resolve_precision,
        resolve_strategy,
        strategy_name,
    )

    found = installed_versions()
    bad, untested = version_problems(found)
    lines = ["versions: " + ", ".join(f"{p} {v or 'missing'}" for p, v in found.items())]
    lines += [f"  KNOWN BAD: {problem}" for problem in bad]
    lines += [f"  untested: {item}" for item in untested]
    if not bad and not untested:
        lines.append("  the tested combination")
    gpus = tf.config.list_physical_devices("GPU")
    cpus = tf.config.list_physical_devices("CPU")
    lines.append(f"devices: {len(cpus)} CPU, {len(gpus)} GPU" + (f", TPU configured at {configured_tpu()!r}"
                                                                   if configured_tpu() else ", no TPU configured"))
    if configured_tpu():
        lines.append("strategy auto: tpu (not connected here; `tfmodels train` connects with runtime.connect_timeout)")
    else:
        lines.append(f"strategy auto: {strategy_name(resolve_strategy('auto'))}")
    bf16 = cpu_bfloat16()
    gpu_bf16 = [g for g in gpus if tf.config.experimental.get_device_details(g).get("compute_capability", (0,))[0] >= 8]
    if gpu_bf16:
        lines.append("bfloat16: fast on the GPU (compute capability 8 or more): runtime.precision=mixed_bfloat16")
    elif bf16:
        lines.append(f"bfloat16: fast on this CPU ({bf16}): runtime.precision=mixed_bfloat16 trains faster")
    else:
        lines.append("bfloat16: no fast bfloat16 here; keep runtime.precision=float32")
    precision, why = resolve_precision("auto")
    lines.append(f"precision auto: {precision} ({why})")
    if bf16 and not gpus:
        lines.append("xla: element-wise clustering is on in `tfmodels train` here (runtime.xla=auto)"
                     + ("; also in this process" if fusible_xla_active() else ""))
    online = network_reachable()
    lines.append("network: TFDS can download" if online
                 else "network: unreachable; TFDS data sets must be prepared already (tfds: specs fail fast otherwise)")
    return lines, 1 if bad else 0
