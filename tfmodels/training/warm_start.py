"""Starting a model from another model's weights (`init.from_run`): one for one, shapes checked."""

from __future__ import annotations

import keras

from tfmodels.errors import RunDirError


def copy_weights(source: keras.Model, model: keras.Model, where: str) -> None:
    """Assigns every weight of `source` to `model`'s weight at the same position; `where` names the source."""
    theirs, ours = source.weights, model.weights
    if len(theirs) != len(ours):
        raise RunDirError(
            f"init.from_run: the model in '{where}' has {len(theirs)} weights, this one {len(ours)}; "
            "the two models must have the same architecture"
        )
    for mine, other in zip(ours, theirs):
        if tuple(mine.shape) != tuple(other.shape):
            raise RunDirError(
                f"init.from_run: weight '{mine.path}' has shape {tuple(mine.shape)} here but "
                f"{tuple(other.shape)} in '{where}'; the two models must have the same architecture"
            )
    for mine, other in zip(ours, theirs):
        mine.assign(other)
