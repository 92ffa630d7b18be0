"""Masked-language-model pretraining of a Transformer encoder on unlabelled text.

The run folder keeps, beside the usual files, the encoder alone (`encoder.keras`) and the
vocabulary (`vocabulary.txt`), so that a classifier can start from them (`init.from_run`).
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from tfmodels.data.masked_lm_pipeline import (
    mask_generator,
    masked_lm_dataset,
    token_chunks,
)
from tfmodels.data.tokenizers import (
    check_tokenizer_config,
)
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.models import build_encoder, check_text_model_config
from tfmodels.models.masked_lm import MaskedLMModel
from tfmodels.tasks.text_task import TextTask
from tfmodels.training.run_dir import write_aside

ENCODER_FILE = "encoder.keras"


class MaskedLanguageModeling(TextTask):
    input_name = "token_ids"

    def __init__(self, config):
        super().__init__(config)
        self.chunks: dict[str, np.ndarray] = {}

    def load(self) -> None:
        data, mlm = self.config.data, self.config.model.masked_lm
        check_text_model_config(self.config.model)
        check_tokenizer_config(data.tokenizer)
        for key in ("mask_rate", "mask_token_rate", "random_token_rate"):
            if not 0.0 <= getattr(mlm, key) <= 1.0:
                raise ConfigError(f"model.masked_lm.{key} must be in [0, 1], got {getattr(mlm, key)}")
        if mlm.mask_rate == 0.0 or mlm.mask_token_rate + mlm.random_token_rate > 1.0:
            raise ConfigError("model.masked_lm: mask_rate must be above 0, and mask_token_rate + random_token_rate "
                              "at most 1")
        train, validation = self._train_and_validation(labelled=False)  # labels, if any, are ignored
        self.splits = {"train": train, "validation": validation}

    def prepare(self, run_dir=None) -> None:
        super().prepare(run_dir)  # the vocabulary
        self.chunks = {role: token_chunks(texts.texts, self.preprocessor) for role, texts in self.splits.items()}

    def train_examples(self) -> int:
        return len(self.chunks["train"])

    def datasets(self, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        masker = mask_generator(self.config.model.masked_lm, self.preprocessor)
        cache = self.config.data.cache
        train = masked_lm_dataset(self.chunks["train"], masker, global_batch, training=True, seed=seed,
                                  epochs=epochs, first_epoch=first_epoch)
        validation = masked_lm_dataset(self.chunks["validation"], masker, global_batch, training=False, seed=seed,
                                       cache=cache)
        return train, {"validation": validation}

    def build_model(self):
        encoder = build_encoder(self.config.model, self.preprocessor.vocabulary_size,
                                self.config.data.tokenizer.sequence_length, self.preprocessor.pad_id)
        model = MaskedLMModel(encoder, tie_weights=self.config.model.masked_lm.tie_weights,
                              kernel_initializer=encoder.initializer("glorot_uniform"), name="masked_lm")
        length = self.config.data.tokenizer.sequence_length
        model.build({"token_ids": (None, length),
                     "mask_positions": (None, mask_generator(self.config.model.masked_lm,
                                                             self.preprocessor).mask_selection_length)})
        return model

    def compile_args(self) -> dict:
        # The labels are the original ids at the masked positions; padding slots have weight 0.
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")]}

    def callbacks(self, global_batch: int, log_dir=None) -> list:
        return [PerplexityAndThroughput(self.config.data.tokenizer.sequence_length)]

    def finish(self, model, run_dir) -> None:
        write_aside(Path(run_dir) / ENCODER_FILE, model.encoder.save)

    def data_info(self) -> dict:
        return {
            "task": "masked_lm",
            "input": {"name": self.input_name, "shape": [self.config.data.tokenizer.sequence_length], "dtype": "int32"},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": self.preprocessor.vocabulary_size},
            "examples": {role: int(len(chunks)) for role, chunks in self.chunks.items()},
            "texts": {role: len(texts) for role, texts in self.splits.items()},
            "sources": {role: texts.source for role, texts in self.splits.items()},
        }

    def evaluation_data(self, run_dir, info, data_spec, split):
        raise RunDirError(f"'{run_dir}' is a masked-LM pretraining run: its metrics (masked accuracy, perplexity) "
                          "are in metrics.json; fine-tune a classifier from it with init.from_run to evaluate")


class PerplexityAndThroughput(keras.callbacks.Callback):
    """Adds `perplexity` (exp of the masked-LM loss) and `tokens_per_second` to each epoch's logs.

    Tokens per second are the trainer's `examples_per_second` (wall time of the epoch, validation
    included: a floor on the training speed) times the sequence length. It runs after the trainer's
    throughput callback and before the TensorBoard and CSV callbacks, so both record the values.
    """

    def __init__(self, sequence_length: int):
        super().__init__()
        self.sequence_length = sequence_length

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            if f"{prefix}loss" in logs:
                logs[f"{prefix}perplexity"] = math.exp(min(float(logs[f"{prefix}loss"]), 50.0))
        if "examples_per_second" in logs:
            logs["tokens_per_second"] = logs["examples_per_second"] * self.sequence_length
