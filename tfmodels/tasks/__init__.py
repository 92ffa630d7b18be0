"""Tasks: what a kind of data needs around a model (loading, preprocessing, serving inputs).

The verbs (train, evaluate, export) know only the `Task` interface (`base.py`); `task_for` picks
the task from the config's model type.
"""

from __future__ import annotations

from tfmodels.config import Config
from tfmodels.tasks.base import Serving, Task, TaskData
from tfmodels.tasks.causal_lm import CausalLanguageModeling
from tfmodels.tasks.image_classification import ImageClassification
from tfmodels.tasks.masked_lm import MaskedLanguageModeling
from tfmodels.tasks.text_classification import TextClassification

TASKS = {"mlp": ImageClassification, "masked_lm": MaskedLanguageModeling, "gpt": CausalLanguageModeling,
         "transformer": TextClassification, "bag_of_words": TextClassification}


def task_for(config: Config) -> Task:
    """The task for `config.model.type`: image classification (mlp), masked-LM pretraining
    (masked_lm), causal language modelling (gpt), or text classification (transformer, bag_of_words)."""
    return TASKS[config.model.type](config)


__all__ = ["CausalLanguageModeling", "ImageClassification", "MaskedLanguageModeling", "Serving", "TASKS", "Task", "TaskData",
           "TextClassification", "task_for"]
