"""Loading `.keras` files: with the project's classes registered and Keras's safe mode on.

Importing this module registers every class and function a tfmodels `.keras` file can name
(layers, models, optimizers, schedules, activations); `import tfmodels` imports it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

import tfmodels.layers  # noqa: F401  (registers the layers and the gelu_approximate activation)
import tfmodels.models  # noqa: F401  (the models)
import tfmodels.training.optimizers  # noqa: F401  (FusedAdam, FusedAdamW: a compiled model names its optimizer)
import tfmodels.training.schedules  # noqa: F401  (and its learning-rate schedule)
from tfmodels.errors import RunDirError


def load_keras_model(path: str | Path, compile: bool = False, trust_code: bool = False) -> keras.Model:
    """Loads a `.keras` file with `safe_mode=True`: no code from the file (e.g. lambdas) is run.

    A file that carries code (a `Lambda` layer's bytecode) is refused with a clear error unless
    `trust_code` (the command line's `--trust-code`) says the user trusts where it came from.
    Without `compile`, the optimizer and loss saved with the model are not rebuilt: evaluation,
    export and warm starts need only the architecture and the weights.
    """
    if not Path(path).is_file():
        raise RunDirError(f"model file '{path}' does not exist")
    if not zipfile.is_zipfile(path):
        raise RunDirError(f"model file '{path}' is damaged or not a .keras file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            quantized = QUANTIZATION_RECORD in archive.namelist()
        if quantized:
            return _load_quantized(path, trust_code)
        return keras.models.load_model(path, safe_mode=not trust_code, compile=compile)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise RunDirError(f"model file '{path}' is damaged or not a .keras file: {e}") from None
    except ValueError as e:
        if "safe_mode" in str(e):
            raise RunDirError(
                f"model file '{path}' carries code (e.g. a Lambda layer) that loading would run; it was refused. "
                "If you trust where the file came from, pass --trust-code"
            ) from None
        raise


# --- quantized models (models/quantization.py says why they need more than load_model) -------------

QUANTIZATION_RECORD = "tfmodels_quantization.json"  # inside the .keras archive: which layers, which policy
GPTQ_ZEROS = "tfmodels_gptq_zeros.npz"  # inside too: the GPTQ zero points Keras 3.15 does not save


def save_quantized_model(model, path: str | Path, record: dict) -> Path:
    """`model.save(path)` plus, inside the same archive, the record of its quantized layers (and GPTQ's zero
    points): the one file reloads with `load_keras_model`, wherever it is copied."""
    import io
    import json
    import os

    import numpy as np

    from tfmodels.transforms.quantization import gptq_zero_points, quantized_layers

    path = Path(path)
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    model.save(staging)
    with zipfile.ZipFile(staging, "a") as archive:
        archive.writestr(QUANTIZATION_RECORD, json.dumps({**record, "layers": quantized_layers(model)}, indent=1))
        zeros = gptq_zero_points(model)
        if zeros:
            buffer = io.BytesIO()
            np.savez(buffer, **{key.replace("/", "|"): value for key, value in zeros.items()})
            archive.writestr(GPTQ_ZEROS, buffer.getvalue())
    os.replace(staging, path)
    return path


def quantization_record(path: str | Path) -> dict | None:
    """The record inside a quantized `.keras` file, or None for a float one."""
    import json

    with zipfile.ZipFile(path) as archive:
        if QUANTIZATION_RECORD not in archive.namelist():
            return None
        return json.loads(archive.read(QUANTIZATION_RECORD))


def _load_quantized(path, trust_code: bool):
    """Build the float model from the file's config, quantize the same layers, then load the weights."""
    import io
    import json

    import numpy as np

    from tfmodels.transforms.quantization import put_gptq_zero_points, restore_structure

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        record = json.loads(archive.read(QUANTIZATION_RECORD))
        zeros = {}
        if GPTQ_ZEROS in archive.namelist():
            with np.load(io.BytesIO(archive.read(GPTQ_ZEROS))) as values:
                zeros = {key.replace("|", "/"): values[key] for key in values.files}
    model = keras.saving.deserialize_keras_object(config, safe_mode=not trust_code)  # built (its build config)
    try:
        restore_structure(model, record["layers"])
        model.load_weights(path)
    except ValueError as e:
        raise RunDirError(f"quantized model file '{path}' does not match its own record of quantized layers: {e}") from None
    put_gptq_zero_points(model, zeros)
    return model


# --- LoRA adapters as a file of their own ------------------------------------------------------------

ADAPTER_FORMAT = "tfmodels-lora-1"


def base_fingerprint(model) -> dict:
    """{path: sha256 of its shape, dtype and values} of each weight LoRA leaves alone: which base the adapters
    are for (and, when another base is given, where it differs)."""
    import hashlib

    import numpy as np

    from tfmodels.transforms.lora import base_weights

    fingerprint = {}
    for path, w in base_weights(model):
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
        digest = hashlib.sha256(f"{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
        fingerprint[path] = digest.hexdigest()[:16]
    return fingerprint


def save_adapters(model, path: str | Path, rank: int, alpha: float | None, targets: list[str], base: str = "",
                  template: str | None = None) -> Path:
    """Writes what a LoRA run trained (adapters, and a classifier's head) to one `.npz`, keyed by weight
    path, with the rank, alpha, targets, the fingerprint of the base it was trained on, and (instruction
    tuning) the prompt template the adapters were trained with."""
    import json
    import os

    import numpy as np

    from tfmodels.transforms.lora import trained_weights

    meta = {"format": ADAPTER_FORMAT, "rank": rank, "alpha": alpha, "targets": list(targets),
            "base_fingerprint": base_fingerprint(model), "base": str(base), "model": type(model).__name__,
            "template": template}
    path = Path(path)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(staging, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **trained_weights(model))
    os.replace(staging, path)
    return path


def read_adapters(path: str | Path) -> tuple[dict, dict]:
    """(meta, {weight path: value}) of an adapters file; RunDirError if it is not one."""
    import json

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            values = {key: archive[key] for key in archive.files}
        meta = json.loads(values.pop("__meta__").tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # a truncated .npz: BadZipFile
        reason = "damaged or truncated" if isinstance(e, (zipfile.BadZipFile, EOFError)) else type(e).__name__
        raise RunDirError(f"'{path}' is not an adapters file written by a LoRA run ({reason}: {e}); use the "
                          "adapters.npz the run wrote, or train it again") from None
    if meta.get("format") != ADAPTER_FORMAT:
        raise RunDirError(f"'{path}' is not an adapters file of this version (format {meta.get('format')!r})")
    return meta, values


def load_adapters(model, path: str | Path):
    """Puts LoRA adapters on `model` (the base, built and with its weights): LoRA enabled as the file says,
    the base checked against the file's fingerprint, every adapter assigned by path. Returns the model."""
    from tfmodels.transforms.lora import assign_trained_weights, enable_lora

    meta, values = read_adapters(path)
    if type(model).__name__ != meta["model"]:
        raise RunDirError(f"'{path}' holds adapters for a {meta['model']}, not a {type(model).__name__}")
    enable_lora(model, meta["rank"], meta["alpha"], meta["targets"])
    here, there = base_fingerprint(model), meta["base_fingerprint"]
    if here != there:
        differ = sorted(p for p in set(here) | set(there) if here.get(p) != there.get(p))
        raise RunDirError(f"'{path}' was trained on another base ({meta['base'] or 'unknown'}): {len(differ)} of the "
                          f"{len(there)} base weights differ (e.g. '{differ[0]}'); load the adapters onto the run "
                          "they were trained from")
    try:
        assign_trained_weights(model, values)
    except ValueError as e:
        raise RunDirError(f"'{path}': {e}") from None
    return model
