"""What a run's model itself takes (pixels, or token ids after the run's own tokenizer), drawn from a
split of its data or from another source: calibration for GPTQ, the representative set of a LiteRT
full-integer conversion, and inputs to compare an export against its model."""

from __future__ import annotations

import numpy as np

from tfmodels.errors import DataError
from tfmodels.run_folder import RunPaths


def model_inputs(task, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                 limit: int = 256) -> np.ndarray:
    """Up to `limit` model inputs (N, ...) of `split` of the run's data (or of `data_spec`), as the model
    takes them: float pixels for an image model, int32 token ids (N, T) for a text model."""
    if task.evaluation_kind == "language_model":
        dataset = task.evaluation_dataset(paths, info, data_spec, split)[0]
        batches = []
        for x, _, _ in dataset.as_numpy_iterator():
            batches.append(x)
            if sum(map(len, batches)) >= limit:
                break
        inputs = np.concatenate(batches)[:limit].astype(np.int32)
    else:
        inputs = np.asarray(task.evaluation_data(paths, info, data_spec, split)[0])[:limit]
    expected = info["input"].get("dtype")
    text = expected in ("string", "int32")
    if len(inputs) == 0:
        raise DataError(f"'{data_spec or split}' gave no examples for this run's model")
    if text != (inputs.dtype.kind in "iu"):
        raise DataError(f"'{data_spec or split}' gives {'token ids' if inputs.dtype.kind in 'iu' else 'images'}, "
                        f"but this run's model takes {'text' if text else 'images'}")
    return inputs.astype(np.int32) if text else inputs.astype(np.float32)
