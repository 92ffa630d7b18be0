"""Starting a run from another run's weights (`init.from_run`)."""

from __future__ import annotations

from pathlib import Path

import keras

from tfmodels.errors import RunDirError
from tfmodels.saving import load_keras_model
from tfmodels.training.run_dir import RunPaths, require_finished


def load_initial_weights(model: keras.Model, run_dir: str, what: str = "model") -> None:
    """Copies every weight of the finished run's model (or its `encoder.keras`, `what="encoder"`)
    into `model`; shapes must match one for one."""
    paths = RunPaths(Path(run_dir))
    require_finished(paths)
    source = load_keras_model(paths.model if what == "model" else paths.root / "encoder.keras")
    copy_weights(source, model, run_dir)


def copy_weights(source: keras.Model, model: keras.Model, run_dir: str) -> None:
    theirs, ours = source.weights, model.weights
    if len(theirs) != len(ours):
        raise RunDirError(
            f"init.from_run: the model in '{run_dir}' has {len(theirs)} weights, this one {len(ours)}; "
            "the two models must have the same architecture"
        )
    for mine, other in zip(ours, theirs):
        if tuple(mine.shape) != tuple(other.shape):
            raise RunDirError(
                f"init.from_run: weight '{mine.path}' has shape {tuple(mine.shape)} here but "
                f"{tuple(other.shape)} in '{run_dir}'; the two models must have the same architecture"
            )
    for mine, other in zip(ours, theirs):
        mine.assign(other)
