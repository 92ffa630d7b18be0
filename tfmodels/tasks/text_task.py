"""What every text task shares: reading the specs, carving a validation set, the vocabulary."""

from __future__ import annotations

from tfmodels.data.examples import train_and_validation
from tfmodels.data.text import TextSet, load_texts
from tfmodels.data.tokenizers import (
    TextPreprocessor,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)
from tfmodels.errors import DataError
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import Task, TaskData


class TextTask(Task):
    def _load(self, specs, role: str, labelled: bool = True) -> TextSet:
        try:
            return load_texts(specs, role, self.config.data.text, labelled=labelled)
        except DataError as e:
            raise DataError(f"data.{role}: {e}") from None

    def _train_and_validation(self, labelled: bool) -> dict[str, TextSet]:
        data = self.config.data
        load = lambda specs, role: self._load(specs, role, labelled)  # noqa: E731
        train, validation = train_and_validation(load, data.train, data.validation, data.validation_fraction)
        return {"train": train, "validation": validation}

    def preprocessor(self, resume_from: RunPaths | None, train: TextSet) -> TextPreprocessor:
        """The vocabulary: the resumed run's, else the pretrained run's (`init.from_run`), else learnt
        from the training text."""
        tokenizer = self.config.data.tokenizer
        if resume_from is not None and resume_from.vocabulary.is_file():
            vocabulary = load_vocabulary(resume_from.vocabulary)
        elif self.config.init.from_run:  # the pretrained vocabulary, never a new one
            vocabulary = load_vocabulary(RunPaths(self.config.init.from_run).vocabulary)
        else:
            vocabulary = learn_vocabulary(train.texts, tokenizer, seed=self.config.runtime.seed)
        return TextPreprocessor(vocabulary, tokenizer)

    def save_assets(self, data: TaskData, paths: RunPaths) -> None:
        save_vocabulary(data.preprocessor.vocabulary, paths.vocabulary)
