"""`tfmodels export`: a finished run as a TensorFlow SavedModel that needs no tfmodels code to serve.

    savedmodels/<run name>/<version>/      the SavedModel (`serving_default`), a copy of model.keras,
                                           and tfmodels_export.json describing the input and outputs

The signature takes one named input (`pixels`, float32 in [0, 1] of the run's image shape, or
`text`, raw strings, tokenized inside the SavedModel) and returns `probabilities` (B, num_classes),
`class_id` (B,) and `class_name` (B,). A pretraining run exports its encoder as a feature
extractor instead: `pooled_output` (B, C) and `sequence_output` (B, T, C). A causal LM's
`serving_default` returns the logits of token ids, and its `generate` signature continues a prompt
string (tasks/causal_lm.py). A version folder is never
overwritten; it is written beside its final place and renamed into it, so a crash never leaves
a half-written folder where `predict` would look.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from tfmodels.errors import ExportError
from tfmodels.files import atomic_write_json, read_json
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model
from tfmodels.tasks import Serving, task_for

DEFAULT_SAVEDMODELS_DIR = "savedmodels"


def next_version_dir(model_dir: Path) -> Path:
    """`model_dir/<n+1>` where n is the highest integer version already there (TF Serving's layout)."""
    versions = [int(p.name) for p in model_dir.glob("*") if p.name.isdigit()] if model_dir.is_dir() else []
    return model_dir / str(max(versions, default=0) + 1)


def export_run(run_dir, out: str | os.PathLike | None = None,
               savedmodels_dir: str | os.PathLike = DEFAULT_SAVEDMODELS_DIR, trust_code: bool = False) -> Path:
    paths = RunPaths(run_dir)
    require_finished(paths)
    info = read_json(paths.data_info)
    target = Path(out) if out else next_version_dir(Path(savedmodels_dir) / paths.name)
    if target.exists():
        raise ExportError(f"export folder '{target}' exists already; exports never overwrite: choose another --out")
    task = task_for(read_run_config(paths))
    model = load_keras_model(paths.model, trust_code=trust_code)
    serving = task.serving(model, paths, info)  # a run that cannot serve says so before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(target.parent)
    staging = target.parent / f".tmp-{target.name}-{os.getpid()}"
    kind, outputs, extra = task.export_outputs(info, serving)
    try:
        write_saved_model(model, staging, serving,
                          None if serving.features is not None else
                          (info.get("class_names") or [str(i) for i in range(info["num_classes"])]))
        shutil.copy2(paths.model, staging / paths.model.name)
        for asset in paths.assets:  # what the .keras file needs beside it to take raw input
            if asset.is_file():
                shutil.copy2(asset, staging / asset.name)
        atomic_write_json(staging / "tfmodels_export.json", {
            "run": str(paths.root.resolve()),
            "signature": "serving_default",
            "kind": kind,
            "input": info["input"],
            "outputs": outputs,
            **({"signatures": {name: [spec.name for spec in specs] for name, (_, specs) in serving.signatures.items()}}
               if serving.signatures else {}),
            **extra,
        })
        if target.exists():
            raise ExportError(f"export folder '{target}' appeared while exporting; nothing was overwritten")
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _remove_abandoned_staging(parent: Path) -> None:
    """Deletes the staging folders of exports whose process is gone (killed before its rename)."""
    for folder in parent.glob(".tmp-*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


def write_saved_model(model: keras.Model, path: Path, serving: Serving, class_names: list[str] | None) -> None:
    """Writes `model` as a SavedModel whose `serving_default` returns probabilities, class ids and names
    (a classifier), or the task's features."""
    if serving.features is not None:
        serve = serving.features
    else:
        names = tf.constant(class_names)

        def serve(*inputs):
            probabilities = tf.nn.softmax(tf.cast(serving.logits(*inputs), tf.float32), axis=-1)
            class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"probabilities": probabilities, "class_id": class_id, "class_name": tf.gather(names, class_id)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    for trackable in serving.trackables:
        archive.track(trackable)
    specs = serving.input_spec if isinstance(serving.input_spec, list) else [serving.input_spec]
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
    for name, (fn, specs) in serving.signatures.items():
        archive.add_endpoint(name=name, fn=fn, input_signature=specs)
    archive.write_out(str(path), verbose=False)
