"""Masked-language-model pretraining of a Transformer encoder on unlabelled text.

The run folder keeps, beside the usual files, the encoder alone (`RunPaths.encoder`) and the
vocabulary, so that a classifier can start from them (`init.from_run`).
"""

from __future__ import annotations

import keras
import keras_hub

from tfmodels.data.masked_lm_pipeline import (
    mask_generator,
    masked_lm_dataset,
    token_chunks,
)
from tfmodels.errors import RunDirError
from tfmodels.files import write_aside
from tfmodels.models import build_encoder
from tfmodels.models.masked_lm import MaskedLMModel
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import TaskData
from tfmodels.tasks.text_task import TextTask


class MaskedLanguageModeling(TextTask):
    input_name = "token_ids"

    def load(self) -> dict:
        return self._train_and_validation(labelled=False)  # labels, if any, are ignored

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        preprocessor = self.preprocessor(resume_from, splits["train"])
        chunks = {role: token_chunks(texts.texts, preprocessor) for role, texts in splits.items()}
        return TaskData(splits, preprocessor=preprocessor, train_examples=len(chunks["train"]),
                        extra={"chunks": chunks})

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        masker = mask_generator(self.config.model.masked_lm, data.preprocessor)
        chunks = data.extra["chunks"]
        train = masked_lm_dataset(chunks["train"], masker, global_batch, training=True, seed=seed,
                                  epochs=epochs, first_epoch=first_epoch)
        validation = masked_lm_dataset(chunks["validation"], masker, global_batch, training=False, seed=seed,
                                       cache=self.config.data.cache)
        return train, {"validation": validation}

    def build_model(self, data: TaskData):
        encoder = build_encoder(self.config.model, data.preprocessor.vocabulary_size,
                                self.config.data.tokenizer.sequence_length, data.preprocessor.pad_id)
        model = MaskedLMModel(encoder, tie_weights=self.config.model.masked_lm.tie_weights,
                              kernel_initializer=encoder.initializer("glorot_uniform"), name="masked_lm")
        length = self.config.data.tokenizer.sequence_length
        slots = mask_generator(self.config.model.masked_lm, data.preprocessor).mask_selection_length
        model.build({"token_ids": (None, length), "mask_positions": (None, slots)})
        return model

    def compile_args(self) -> dict:
        return lm_compile_args()

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        return [TokensPerSecond(self.config.data.tokenizer.sequence_length)]

    def finish(self, model, paths: RunPaths) -> None:
        write_aside(paths.encoder, model.encoder.save)

    def data_info(self, data: TaskData) -> dict:
        chunks = data.extra["chunks"]
        return {
            "task": "masked_lm",
            "input": {"name": self.input_name, "shape": [self.config.data.tokenizer.sequence_length], "dtype": "int32"},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            "examples": {role: int(len(c)) for role, c in chunks.items()},
            "texts": {role: len(texts) for role, texts in data.splits.items()},
            "sources": {role: texts.source for role, texts in data.splits.items()},
        }

    def evaluation_data(self, paths, info, data_spec, split):
        raise RunDirError(f"'{paths.root}' is a masked-LM pretraining run: its metrics (masked accuracy, perplexity) "
                          "are in metrics.json; fine-tune a classifier from it with init.from_run to evaluate")

    def serving(self, model, paths, info):
        raise RunDirError(f"'{paths.root}' is a masked-LM pretraining run: it has no serving function; "
                          "fine-tune a classifier from it with init.from_run and export that")


def lm_compile_args() -> dict:
    """The masked-LM loss and metrics, all per masked token.

    The labels are the original ids at the masked positions; the empty prediction slots have weight
    0. The loss divides by the sum of the weights (the masked tokens of the batch), not by every slot
    as Keras's default `sum_over_batch_size` does, so it is the mean cross-entropy per masked token.
    `perplexity` (keras-hub's metric) is exp of the cross-entropy summed over every masked token of
    the epoch (or of the evaluated corpus) divided by their count: the corpus perplexity. Keras's
    `loss` is the mean of the batches' per-token means, so on one batch exp(loss) == perplexity,
    and over an epoch they differ only by how the mask count varies between batches.
    """
    return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
            "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy"),
                                 keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")]}


class TokensPerSecond(keras.callbacks.Callback):
    """Adds `tokens_per_second` to each epoch's logs.

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
        if "examples_per_second" in logs:
            logs["tokens_per_second"] = logs["examples_per_second"] * self.sequence_length
