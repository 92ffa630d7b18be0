"""Tasks: what a kind of model needs around it (its data, model, loss, metrics, evaluation, export).

Each kind of model is one task module here and one entry in `registry.py`, which holds the kind's
config rules and imports no TensorFlow. The verbs (train, evaluate, export, predict, generate,
quantize, search) know only the `Task` interface (`base.py`) and ask `task_for(config)` for the
task; none of them names a kind.
"""

from __future__ import annotations

import importlib

from tfmodels.config.kinds import KINDS, KindRules, kind_rules, register_kind, unregister_kind
from tfmodels.tasks import registry  # noqa: F401  (registers the kinds)

# Imported on first use, so that reading a config (or `tfmodels --help`) needs no TensorFlow.
_LAZY = {"Task": "tfmodels.tasks.base", "TaskData": "tfmodels.tasks.base", "Serving": "tfmodels.tasks.base",
         "CausalLanguageModeling": "tfmodels.tasks.causal_lm", "InstructionTuning": "tfmodels.tasks.instruction_tuning",
         "ImageClassification": "tfmodels.tasks.image_classification",
         "MaskedLanguageModeling": "tfmodels.tasks.masked_lm", "TextClassification": "tfmodels.tasks.text_classification",
         "TokenClassification": "tfmodels.tasks.token_classification"}


def task_class(name: str, config=None):
    """The Task class registered for `model.type=name` (imported now); with `config`, the kind's narrower
    task where it names one for that config (a causal LM with a template: instruction tuning)."""
    rules = kind_rules(name)
    path = (rules.narrower_task(config) if config is not None and rules.narrower_task else None) or rules.task
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def task_for(config):
    """The task that runs `config`."""
    return task_class(config.model.type, config)(config)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfmodels.tasks' has no attribute {name!r}")


__all__ = ["KINDS", "KindRules", "kind_rules", "register_kind", "task_class", "task_for", "unregister_kind",
           *_LAZY]
