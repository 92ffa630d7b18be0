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
