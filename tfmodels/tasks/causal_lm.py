"""Causal language modelling (model.type=gpt): predict every next token of a corpus.

The corpus becomes one stream of token ids (characters, for now: `CharacterCodec`), split into a
training and a validation part by a contiguous fraction (nanoGPT's 90/10) unless `data.validation`
names its own text. Training draws windows at random offsets from (seed, step); training is counted
in steps (`trainer.max_steps`), evaluated every `trainer.eval_interval` steps on
`trainer.eval_batches` fixed batches. The loss is the mean cross-entropy per predicted token, so
exp(loss) is the perplexity and loss / ln 2 the bits per character.
"""

from __future__ import annotations

import math

import keras

from tfmodels.data.lm_pipeline import CharacterCodec, check_length, lm_dataset, split_stream, token_stream
from tfmodels.errors import DataError
from tfmodels.files import atomic_write_json, read_json
from tfmodels.models import GPT
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import TaskData
from tfmodels.tasks.text_task import TextTask


class CausalLanguageModeling(TextTask):
    input_name = "token_ids"
    evaluation_kind = "language_model"

    def load(self) -> dict:
        data = self.config.data
        splits = {"train": self._load(data.train, "train", labelled=False)}
        if data.validation:
            splits["validation"] = self._load(data.validation, "validation", labelled=False)
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        codec = self.codec(resume_from, splits["train"].texts)
        streams = {role: token_stream(texts.texts, codec.encode) for role, texts in splits.items()}
        if "validation" not in streams:  # the contiguous tail of the training text
            streams["train"], streams["validation"] = split_stream(streams["train"], self.config.data.validation_fraction)
        block = self.config.model.gpt.block_size
        for role, stream in streams.items():
            try:
                check_length(stream, block, role)
            except DataError as e:
                raise DataError(f"data.{role}: {e}") from None
        return TaskData(splits, preprocessor=codec, train_examples=len(streams["train"]), extra={"streams": streams})

    def codec(self, resume_from: RunPaths | None, texts: list[str]) -> CharacterCodec:
        """The resumed run's characters, else the pretrained run's (`init.from_run`), else learnt."""
        for paths in (resume_from, RunPaths(self.config.init.from_run) if self.config.init.from_run else None):
            if paths is not None and paths.characters.is_file():
                return CharacterCodec(read_json(paths.characters)["characters"])
        return CharacterCodec.learn(texts)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        t, block, streams = self.config.trainer, self.config.model.gpt.block_size, data.extra["streams"]
        train = lm_dataset(streams["train"], block, global_batch, seed, first_step=first_epoch * t.eval_interval,
                           steps=(epochs - first_epoch) * t.eval_interval)
        validation = lm_dataset(streams["validation"], block, global_batch, seed, training=False,
                                num_batches=t.eval_batches)
        return train, {"validation": validation}

    def build_model(self, data: TaskData):
        g = self.config.model.gpt
        model = GPT(data.preprocessor.vocabulary_size, g.block_size, width=g.width, num_layers=g.num_layers,
                    num_heads=g.num_heads, ffn_dim=g.ffn_dim, dropout=g.dropout, use_bias=g.bias,
                    tie_weights=g.tie_weights, name="gpt")
        model.build((None, g.block_size))
        return model

    def compile_args(self) -> dict:
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def save_assets(self, data: TaskData, paths: RunPaths) -> None:
        atomic_write_json(paths.characters, {"kind": "character", "characters": data.preprocessor.characters})

    def data_info(self, data: TaskData) -> dict:
        streams = data.extra["streams"]
        return {
            "task": "causal_lm",
            "input": {"name": self.input_name, "shape": [self.config.model.gpt.block_size], "dtype": "int32"},
            "token_ids": {"block_size": self.config.model.gpt.block_size,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            "examples": {role: int(len(s)) for role, s in streams.items()},  # tokens of each part
            "sources": {role: texts.source for role, texts in data.splits.items()},
            "chance_loss": math.log(data.preprocessor.vocabulary_size),
        }
