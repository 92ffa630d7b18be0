"""What the language-model tasks share after training: evaluation by their own loss and metrics over
a corpus (`evaluation_dataset`), and their token sequences as the model's inputs."""

from __future__ import annotations

import numpy as np

from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import Task, _checked_inputs
from tfmodels.tasks.reports import evaluate_language_model


class LanguageModelTask(Task):
    def evaluation_dataset(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(batches of inputs, labels and weights, name, source, examples): a corpus, whole."""
        raise NotImplementedError  # pragma: no cover

    def language_model_result(self, values: dict, sequences: int, tokens: int, paths: RunPaths) -> dict:
        """The evaluation's record from Keras's `evaluate` values and the counts of the corpus."""
        raise NotImplementedError  # pragma: no cover

    def evaluate(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None,
                 trust_code: bool = False) -> tuple[str, dict]:
        return evaluate_language_model(self, paths, info, data_spec, split, trust_code)

    def model_inputs(self, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                     limit: int = 256) -> np.ndarray:
        dataset = self.evaluation_dataset(paths, info, data_spec, split)[0]
        batches = []
        for x, _, _ in dataset.as_numpy_iterator():
            batches.append(x)
            if sum(map(len, batches)) >= limit:
                break
        return _checked_inputs(np.concatenate(batches)[:limit].astype(np.int32), info, data_spec or split)
