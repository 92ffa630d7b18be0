"""tfmodels: develop Keras 3 / TensorFlow models from scratch and fine-tune them.

`import tfmodels` registers every layer, model, optimizer, schedule and activation that a tfmodels
`.keras` file names (as `import keras_hub` does), so `keras.models.load_model(path)` works after
it alone. The names a notebook needs:

    config = tfmodels.load_config("configs/mlp_digits.yaml")    # or tfmodels.shipped_config("mlp_digits")
    config = tfmodels.apply_overrides(config, ["trainer.epochs=5"])
    result = tfmodels.train(config, "runs/digits")              # a run folder, as `tfmodels train`
    tfmodels.evaluate_run("runs/digits"); tfmodels.export_run("runs/digits")
    tfmodels.predict("savedmodels/digits/1", ["digits?split=test"])
    model = tfmodels.load_model("runs/digits/model.keras")

The command line is `tfmodels` (`tfmodels --help`). The packages, lowest first: `config`, `runtime`,
`run_folder`, `data`, `layers`, `networks`, `models`, `converters`, `transforms`, `decoding`, `training`
(Keras plumbing), `tasks`, `verbs` (what a user runs), `search`, `cli` (docs/design.md#the-layers).
"""

__version__ = "0.1.0"

import os
import sys

from tfmodels import tasks  # noqa: F401,E402  (registers the kinds of model: model.type is checked against them)
from tfmodels.config import Config, apply_overrides, load_config, shipped_config


def _is_the_command_line() -> bool:
    """Whether this process is the `tfmodels` command (the console script or `python -m tfmodels`).

    The command imports TensorFlow only for the commands that need it (`tfmodels --help` in 0.2 s,
    not 8), and registers the classes through the verbs it runs; everything else registers here.
    """
    program = os.path.basename(sys.argv[0]) if sys.argv else ""  # an embedded interpreter may have no argv
    return program == "tfmodels" or list(getattr(sys, "orig_argv", []))[1:3] == ["-m", "tfmodels"]


if not _is_the_command_line():
    from tfmodels.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()  # before Keras imports it: TensorFlow's C++ start-up lines stay hidden
    from tfmodels import saving  # noqa: F401  (registers every serializable class)

# The verbs, and the loader, are imported when first used.
_LAZY = {"train": "tfmodels.verbs.train", "evaluate_run": "tfmodels.verbs.evaluate",
         "export_run": "tfmodels.verbs.export", "predict": "tfmodels.verbs.predict",
         "load_model": ("tfmodels.saving", "load_keras_model")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name] if isinstance(_LAZY[name], tuple) else (_LAZY[name], name)
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'tfmodels' has no attribute {name!r}")

__all__ = ["Config", "apply_overrides", "evaluate_run", "export_run", "load_config", "load_model", "predict",
           "shipped_config", "train", "__version__"]
