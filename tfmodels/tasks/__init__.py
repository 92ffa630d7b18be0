"""Tasks: what a kind of data needs around a model (loading, preprocessing, serving inputs).

The trainer, `evaluate` and `export` know only this interface; `task_for` picks the task from
the config's model type.
"""

from __future__ import annotations

from tfmodels.config import Config


def task_for(config: Config):
    """The task for `config.model.type`: image classification (mlp), masked-LM pretraining
    (masked_lm), or text classification (transformer, bag_of_words)."""
    if config.model.type == "mlp":
        from tfmodels.tasks.image_classification import ImageClassification

        return ImageClassification(config)
    if config.model.type == "masked_lm":
        from tfmodels.tasks.masked_lm import MaskedLanguageModeling

        return MaskedLanguageModeling(config)
    from tfmodels.tasks.text_classification import TextClassification

    return TextClassification(config)
