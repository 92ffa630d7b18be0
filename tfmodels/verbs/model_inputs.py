"""What a run's model itself takes (pixels, or token ids after the run's own tokenizer), drawn from a
split of its data or from another source: calibration for GPTQ, the representative set of a LiteRT
full-integer conversion, and inputs to compare an export against its model. The task draws them."""

from __future__ import annotations

import numpy as np

from tfmodels.run_folder import RunPaths


def model_inputs(task, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                 limit: int = 256) -> np.ndarray:
    """Up to `limit` model inputs (N, ...) of `split` of the run's data (or of `data_spec`), as the model
    takes them: float pixels for an image model, int32 token ids (N, T) for a text model."""
    return task.model_inputs(paths, info, data_spec, split, limit)
