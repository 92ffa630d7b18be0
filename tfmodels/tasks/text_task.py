"""What every text task shares: reading the specs, carving a validation set, the vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfmodels.data.text import TextSet, load_texts
from tfmodels.data.tokenizers import (
    TextPreprocessor,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)
from tfmodels.errors import DataError
from tfmodels.tasks.base import Task

SPLIT_SEED = 0  # carved validation sets never change with the run's seed


class TextTask(Task):
    def __init__(self, config):
        super().__init__(config)
        self.preprocessor: TextPreprocessor | None = None

    def _load(self, specs, role: str, labelled: bool = True) -> TextSet:
        try:
            return load_texts(specs, role, self.config.data.text, labelled=labelled)
        except DataError as e:
            raise DataError(f"data.{role}: {e}") from None

    def _train_and_validation(self, labelled: bool) -> tuple[TextSet, TextSet]:
        data = self.config.data
        train = self._load(data.train, "train", labelled)
        if data.validation:
            return train, self._load(data.validation, "validation", labelled)
        if not 0.0 < data.validation_fraction < 1.0:
            raise DataError(f"data.validation_fraction must be between 0 and 1 (exclusive), got "
                            f"{data.validation_fraction}; or give data.validation a spec")
        return carve(train, data.validation_fraction)

    def prepare(self, run_dir=None) -> None:
        """The vocabulary: the resumed run's, else the pretrained run's (`init.from_run`), else learnt
        from the training text."""
        tokenizer = self.config.data.tokenizer
        if run_dir is not None and (Path(run_dir) / "vocabulary.txt").is_file():
            vocabulary = load_vocabulary(run_dir)
        elif self.config.init.from_run:
            vocabulary = load_vocabulary(self.config.init.from_run)  # the pretrained vocabulary, never a new one
        else:
            vocabulary = learn_vocabulary(self.splits["train"].texts, tokenizer, seed=self.config.runtime.seed)
        self.preprocessor = TextPreprocessor(vocabulary, tokenizer)

    def save_assets(self, run_dir) -> None:
        save_vocabulary(self.preprocessor.vocabulary, run_dir)


def carve(texts: TextSet, fraction: float) -> tuple[TextSet, TextSet]:
    """Splits a seeded `fraction` off `texts`: returns (rest, carved)."""
    n_carved = int(round(len(texts) * fraction))
    if n_carved < 1 or n_carved >= len(texts):
        raise DataError(f"carving {fraction} of the {len(texts)} examples of '{texts.source}' leaves one side "
                        "empty; use more data or change data.validation_fraction")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
    return (texts.subset(np.sort(order[n_carved:]), texts.source),
            texts.subset(np.sort(order[:n_carved]), f"{texts.source} (carved {fraction:.0%} for validation)"))
