"""Masked-language-model pretraining of a Transformer encoder on unlabelled text.

The run folder keeps, beside the usual files, the encoder alone (`RunPaths.encoder`) and the
vocabulary, so that a classifier can start from them (`init.from_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import keras_hub
import tensorflow as tf

from tfmodels.data.masked_lm_pipeline import (
    TRAINING,
    mask_batches,
    mask_generator,
    masked_lm_dataset,
    masked_lm_passes,
    token_chunks,
)
from tfmodels.data.streams import CorpusStream, masked_lm_stream
from tfmodels.data.text import load_text
from tfmodels.data.tokenizers import TextPreprocessor, load_vocabulary
from tfmodels.errors import DataError
from tfmodels.files import write_aside
from tfmodels.models import build_masked_lm
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import Serving, TaskData
from tfmodels.tasks.language_model import LanguageModelTask
from tfmodels.tasks.text_task import TextTask, bert_preset
from tfmodels.training.summaries import TokensPerSecond


@dataclass
class MaskedLMData(TaskData):
    chunks: dict = field(default_factory=dict)  # {role: token sequences (N, T)}; a streamed training corpus: none
    stream: CorpusStream | None = None  # the training corpus, when read as a stream (data/streams.py)


class MaskedLanguageModeling(TextTask, LanguageModelTask):
    input_name = "token_ids"

    def load(self) -> dict:
        return self._train_and_validation(labelled=False)  # labels, if any, are ignored

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        preprocessor = self.preprocessor(resume_from, self.vocabulary_texts(splits["train"]))
        stream = splits["train"] if isinstance(splits["train"], CorpusStream) else None
        chunks = {role: token_chunks(texts.texts, preprocessor) for role, texts in splits.items()
                  if texts is not stream}
        if stream is not None and self.config.trainer.max_steps is None:
            raise DataError(f"data.train ('{stream.source}') is streamed, so its length is not known before training: "
                            "a masked LM on a stream trains by steps, as BERT did; set trainer.max_steps (and "
                            "trainer.eval_interval)")
        train_examples = len(chunks["train"]) if stream is None else 0
        return MaskedLMData(splits, preprocessor=preprocessor, train_examples=train_examples, chunks=chunks,
                            stream=stream)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        masker = mask_generator(self.config.model.masked_lm, data.preprocessor)
        chunks, t = data.chunks, self.config.trainer
        if t.max_steps is None:  # by epochs: every chunk once an epoch
            train = masked_lm_dataset(chunks["train"], masker, global_batch, training=True, seed=seed,
                                      epochs=epochs, first_epoch=first_epoch)
        else:  # by steps ("epochs" of eval_interval steps): a resume skips the batches of the steps done
            first_step, steps = first_epoch * t.eval_interval, (epochs - first_epoch) * t.eval_interval
            if data.stream is not None:
                p = data.preprocessor
                batches = masked_lm_stream(data.stream, p.tokenize, p.sep_id, p.cls_id,
                                           self.config.data.tokenizer.sequence_length, seed, global_batch,
                                           self.config.data.shuffle_buffer)
            else:
                batches = masked_lm_passes(chunks["train"], global_batch, seed)
            batches = batches.skip(first_step).take(steps)
            train = mask_batches(batches.enumerate(start=first_step), masker, seed, TRAINING)
        validation = masked_lm_dataset(chunks["validation"], masker, global_batch, training=False, seed=seed,
                                       cache=self.config.data.cache)
        return train, {"validation": validation}

    def build_model(self, data: TaskData):
        slots = mask_generator(self.config.model.masked_lm, data.preprocessor).mask_selection_length
        return build_masked_lm(self.config.model, data.preprocessor.vocabulary_size,
                               self.config.data.tokenizer.sequence_length, slots, data.preprocessor.pad_id,
                               data.preprocessor.sep_id)

    def compile_args(self) -> dict:
        return lm_compile_args()

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        return [TokensPerSecond(self.config.data.tokenizer.sequence_length)]

    def keras_hub_preset(self, paths: RunPaths):
        return bert_preset(self.config, paths)

    def finish(self, model, paths: RunPaths) -> None:
        write_aside(paths.encoder, model.encoder.save)

    def data_info(self, data: TaskData) -> dict:
        chunks = data.chunks
        return {
            "task": "masked_lm",
            "input": {"name": self.input_name, "shape": [self.config.data.tokenizer.sequence_length], "dtype": "int32"},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            "examples": {role: int(len(c)) for role, c in chunks.items()},
            "texts": {role: len(texts) for role, texts in data.splits.items() if texts is not data.stream},
            **({"streamed": {"train": data.stream.describe()}} if data.stream is not None else {}),
            "sources": {role: texts.source for role, texts in data.splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    export_kind = "features"

    def language_model_result(self, values: dict, sequences: int, tokens: int, paths: RunPaths) -> dict:
        return {"kind": "language_model", "sequences": sequences, "masked_tokens": tokens,
                **{k: float(v) for k, v in values.items()}}

    def evaluation_dataset(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(masked batches of a corpus, name, source, sequences): `data_spec` (any text, labels
        ignored), else the run's own validation text. The masks are drawn from the run's seed, the
        same at every call, so two evaluations of one run on one corpus agree."""
        if data_spec:
            texts, name = load_text(data_spec, split or "test", self.config.data.text, labelled=False), split or "data"
        else:
            name = split or "validation"
            splits = self.load()
            if name not in splits:
                raise DataError(f"this run has no '{name}' set (its splits: {', '.join(splits)}); "
                                "pass --split with one of them, or --data SPEC")
            texts = splits[name]
            if isinstance(texts, CorpusStream):
                raise DataError(f"this run's {name} text is streamed ('{texts.source}'), too large to evaluate whole; "
                                "give --data with a part of it")
        preprocessor = TextPreprocessor(load_vocabulary(paths.vocabulary), self.config.data.tokenizer)
        try:
            chunks = token_chunks(texts.texts, preprocessor)
        except DataError as e:
            raise DataError(f"evaluation data '{texts.source}': {e}") from None
        masker = mask_generator(self.config.model.masked_lm, preprocessor)
        dataset = masked_lm_dataset(chunks, masker, 64, training=False, seed=self.config.runtime.seed, cache=False)
        return dataset, name, texts.source, len(chunks)

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """The encoder as a feature extractor: raw strings -> `pooled_output` (B, C), the mean of the
        vectors of the real tokens (masked-LM pretraining never trains [CLS]'s), and `sequence_output`
        (B, T, C), with `padding_mask` (B, T) saying which positions are tokens."""
        preprocessor = TextPreprocessor(load_vocabulary(paths.vocabulary), self.config.data.tokenizer)
        preprocessor(tf.constant(["build"]))  # a first call builds the keras-hub layers, which export requires
        encoder, width = model.encoder, model.encoder.width

        def features(text):
            ids = preprocessor(text)  # (B,) strings -> (B, T)
            h = tf.cast(encoder(ids, training=False), tf.float32)  # (B, T, C)
            real = tf.cast(ids != preprocessor.pad_id, tf.float32)[..., None]  # (B, T, 1)
            pooled = tf.reduce_sum(h * real, axis=1) / tf.maximum(tf.reduce_sum(real, axis=1), 1.0)  # (B, C)
            return {"pooled_output": pooled, "sequence_output": h, "padding_mask": ids != preprocessor.pad_id}

        length = self.config.data.tokenizer.sequence_length
        return Serving(None, tf.TensorSpec((None,), tf.string, name="text"),
                       [preprocessor.tokenizer, preprocessor.packer], features=features,
                       feature_shapes={"pooled_output": ["batch", width], "sequence_output": ["batch", length, width],
                                       "padding_mask": ["batch", length]})


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
