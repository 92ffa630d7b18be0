"""tfmodels: develop Keras 3 / TensorFlow models from scratch and fine-tune them.

`import tfmodels` registers every layer, model, optimizer, schedule and activation that a tfmodels
`.keras` file names (as `import keras_hub` does), so `keras.models.load_model(path)` works after
it alone. The names a notebook needs:

    config = tfmodels.load_config("mlp_digits")                 # a shipped config's name, or a YAML file
    config = tfmodels.apply_overrides(config, ["trainer.epochs=5"])
    result = tfmodels.train(config, "runs/digits")              # a run folder, as `tfmodels train`
    model = tfmodels.load("runs/digits")                        # a run folder or an export, ready to call:
    model.predict(pixels); model.evaluate("digits?split=test"); model.export()
    tfmodels.load("runs/gpt").generate("the film", stream=True)  # a causal LM's text, piece by piece
    keras_model = tfmodels.load_model("runs/digits/model.keras")

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
         "generate": "tfmodels.verbs.generate", "load": "tfmodels.verbs.load",
         "RunModel": "tfmodels.verbs.load", "ExportedModel": "tfmodels.verbs.load",
         "load_model": ("tfmodels.saving", "load_keras_model")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name] if isinstance(_LAZY[name], tuple) else (_LAZY[name], name)
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'tfmodels' has no attribute {name!r}")


def __dir__():  # the public names, lazy ones included: dir(tfmodels) and a notebook's tab completion show them
    modules = {n for n, v in globals().items() if getattr(v, "__name__", "").startswith("tfmodels.")
               and not callable(v)}  # the subpackages already imported
    return sorted({*__all__, *modules})


__all__ = ["Config", "ExportedModel", "RunModel", "apply_overrides", "evaluate_run", "export_run", "generate",
           "load", "load_config", "load_model", "predict", "shipped_config", "train", "__version__"]
