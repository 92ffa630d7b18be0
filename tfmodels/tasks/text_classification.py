"""Text classification: raw strings -> token ids (in the pipeline) -> class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfmodels.config import Config
from tfmodels.data.text import TextSet, load_text
from tfmodels.data.text_pipeline import text_dataset, token_ids
from tfmodels.data.tokenizers import (
    TextPreprocessor,
    check_tokenizer_config,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)
from tfmodels.errors import DataError
from tfmodels.models import build_text_model, check_text_model_config

SPLIT_SEED = 0  # carved validation sets never change with the run's seed


class TextClassification:
    input_name = "text"

    def __init__(self, config: Config):
        self.config = config
        self.splits: dict[str, TextSet] = {}
        self.num_classes = 0
        self.preprocessor: TextPreprocessor | None = None

    def load(self) -> None:
        """Loads and checks train/validation/test; sets `splits` and `num_classes`."""
        data = self.config.data
        check_text_model_config(self.config.model)
        check_tokenizer_config(data.tokenizer)
        train = self._load(data.train, "train")
        if data.validation:
            validation = self._load(data.validation, "validation")
        else:
            if not 0.0 < data.validation_fraction < 1.0:
                raise DataError(f"data.validation_fraction must be between 0 and 1 (exclusive), got "
                                f"{data.validation_fraction}; or give data.validation a spec")
            train, validation = carve(train, data.validation_fraction)
        self.splits = {"train": train, "validation": validation}
        if data.test:
            self.splits["test"] = self._load(data.test, "test")
        self.num_classes = self.config.model.num_classes or int(train.labels.max()) + 1
        if self.num_classes < 2:
            raise DataError(f"data.train ('{train.source}') has labels of only one class; a classifier needs two or more")
        for role, texts in self.splits.items():
            check_text_labels(texts, self.num_classes, f"data.{role}")

    def _load(self, spec: str, role: str) -> TextSet:
        try:
            return load_text(spec, role, self.config.data.text)
        except DataError as e:
            raise DataError(f"data.{role}: {e}") from None

    def prepare(self, run_dir=None) -> None:
        """Learns the vocabulary from the training text, or reads it from the run folder when resuming."""
        tokenizer = self.config.data.tokenizer
        if run_dir is not None and (Path(run_dir) / "vocabulary.txt").is_file():
            vocabulary = load_vocabulary(run_dir)
        else:
            vocabulary = learn_vocabulary(self.splits["train"].texts, tokenizer, seed=self.config.runtime.seed)
        self.preprocessor = TextPreprocessor(vocabulary, tokenizer)

    def save_assets(self, run_dir) -> None:
        save_vocabulary(self.preprocessor.vocabulary, run_dir)

    def datasets(self, global_batch: int, seed: int):
        data = self.config.data
        train = text_dataset(self.splits["train"], self.preprocessor, global_batch, training=True, seed=seed,
                             cache=data.cache, shuffle_buffer=data.shuffle_buffer)
        evaluation = {role: text_dataset(texts, self.preprocessor, global_batch, training=False, seed=seed,
                                         cache=data.cache)
                      for role, texts in self.splits.items() if role != "train"}
        return train, evaluation

    def build_model(self):
        return build_text_model(self.config.model, self.preprocessor.vocabulary_size,
                                self.config.data.tokenizer.sequence_length, self.num_classes,
                                padding_id=self.preprocessor.pad_id)

    def data_info(self) -> dict:
        train = self.splits["train"]
        names = train.class_names if len(train.class_names) == self.num_classes else [
            str(i) for i in range(self.num_classes)]
        return {
            "task": "text_classification",
            "input": {"name": self.input_name, "shape": [], "dtype": "string"},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": self.preprocessor.vocabulary_size},
            "num_classes": self.num_classes,
            "class_names": names,
            "examples": {role: len(texts) for role, texts in self.splits.items()},
            "sources": {role: texts.source for role, texts in self.splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, run_dir, info: dict, data_spec: str | None, split: str | None):
        """(model inputs, labels, name, source) for `evaluate`."""
        if data_spec:
            texts, name = load_text(data_spec, split or "test", self.config.data.text), split or "data"
        else:
            self.load()
            name = split or ("test" if "test" in self.splits else "validation")
            if name not in self.splits:
                raise DataError(f"this run has no '{name}' set (its splits: {', '.join(self.splits)}); "
                                "pass --split with one of them, or --data SPEC")
            texts = self.splits[name]
        check_text_labels(texts, info["num_classes"], f"evaluation data '{name}'")
        preprocessor = TextPreprocessor(load_vocabulary(run_dir), self.config.data.tokenizer)
        return token_ids(texts.texts, preprocessor), texts.labels, name, texts.source


def carve(texts: TextSet, fraction: float) -> tuple[TextSet, TextSet]:
    """Splits a seeded `fraction` off `texts`: returns (rest, carved)."""
    n_carved = int(round(len(texts) * fraction))
    if n_carved < 1 or n_carved >= len(texts):
        raise DataError(f"carving {fraction} of the {len(texts)} examples of '{texts.source}' leaves one side "
                        "empty; use more data or change data.validation_fraction")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(texts))
    return (texts.subset(np.sort(order[n_carved:]), texts.source),
            texts.subset(np.sort(order[:n_carved]), f"{texts.source} (carved {fraction:.0%} for validation)"))


def check_text_labels(texts: TextSet, num_classes: int, where: str) -> None:
    bad = (texts.labels < 0) | (texts.labels >= num_classes)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(f"{where} ('{texts.source}'): label {texts.labels[first]} of example {first} is outside "
                        f"0..{num_classes - 1}; set model.num_classes or fix the labels")


def serving_function(model, run_dir, info: dict, tokenizer_config):
    """(fn, input signature) of the SavedModel: raw strings -> token ids -> probabilities, class ids."""
    preprocessor = TextPreprocessor(load_vocabulary(run_dir), tokenizer_config)
    preprocessor(tf.constant(["build"]))  # a first call builds the keras-hub layers, which export requires
    spec = tf.TensorSpec((None,), tf.string, name=info["input"]["name"])

    def serve(text):
        return model(preprocessor(text), training=False)  # (B,) strings -> (B, T) ids -> (B, classes)

    return serve, spec, preprocessor
