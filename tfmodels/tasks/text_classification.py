"""Text classification: raw strings -> token ids (in the pipeline) -> class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.compat import child_layers
from tfmodels.config.kinds import kind_rules
from tfmodels.converters.presets import load_backbone, preset_family
from tfmodels.data.examples import check_labels, number_of_classes
from tfmodels.data.text import assign_class_ids, load_text
from tfmodels.data.text_pipeline import text_dataset, token_ids
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.models import build_preset_text_model, build_text_model
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Serving, TaskData, pick_split
from tfmodels.tasks.text_summaries import TextExamplesAndAttention
from tfmodels.tasks.text_task import TextTask, bert_preset
from tfmodels.training.callbacks import GradualUnfreezing
from tfmodels.training.warm_start import copy_weights

PAIR_INPUT_NAME = "text_pair"  # a sentence-pair model's second input (as Hugging Face's pipelines name it)
PADDING_SAMPLE = 2000  # training texts (a seeded sample) over which the fraction of [PAD] is measured


@dataclass
class TextData(TaskData):
    padding_fraction: float = 0.0  # of the token ids the model reads, measured on a sample of training texts


class TextClassification(TextTask):
    input_name = "text"

    def load(self) -> dict:
        """Train/validation/test, labels checked against the class count."""
        data = self.config.data
        splits = self._train_and_validation(labelled=True)
        if data.test:
            splits["test"] = self._load(data.test, "test")
        names = assign_class_ids(splits, data.text.class_names)
        if names:
            if self.config.model.num_classes not in (None, len(names)):
                raise ConfigError(f"model.num_classes={self.config.model.num_classes}, but there are {len(names)} "
                                  f"classes ({', '.join(names)}); leave model.num_classes unset")
            for texts in splits.values():
                texts.class_names = names
        if self.config.init.from_run:
            check_pretrained_compatible(self.config, RunPaths(self.config.init.from_run))
        if self.config.init.preset:
            self.preset()  # a preset that is not one, or a hub that cannot be reached, fails before any work
        num_classes = number_of_classes(splits["train"], self.config.model.num_classes or (len(names) or None))
        for role, texts in splits.items():
            check_labels(texts, num_classes, f"data.{role}")
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        train = splits["train"]
        preprocessor = self.preprocessor(resume_from, train)
        # How much of what the model reads is [PAD] (a sequence length far above the texts wastes time).
        sample = np.sort(np.random.default_rng(0).permutation(len(train))[:PADDING_SAMPLE])
        sampled = train.subset(sample, train.source)
        ids = token_ids(sampled.texts, preprocessor, sampled.second)
        return TextData(splits, number_of_classes(train, self.config.model.num_classes), preprocessor,
                        train_examples=len(train), padding_fraction=float(np.mean(ids == preprocessor.pad_id)))

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        by_length = self.config.data.batch_by_length
        train = text_dataset(data.splits["train"], data.preprocessor, global_batch, training=True, seed=seed,
                             epochs=epochs, first_epoch=first_epoch, by_length=by_length)
        evaluation = {role: text_dataset(texts, data.preprocessor, global_batch, training=False, seed=seed,
                                         cache=self.config.data.cache, by_length=by_length)
                      for role, texts in data.splits.items() if role != "train"}
        return train, evaluation

    def build_model(self, data: TaskData):
        if self.config.init.preset:
            backbone = load_backbone(self.preset(), data.preprocessor.vocabulary_size,
                                     sequence_length=self.config.data.tokenizer.sequence_length)
            return build_preset_text_model(self.config.model, backbone,
                                           data.num_classes,
                                           self.config.data.tokenizer.sequence_length, data.preprocessor.pad_id,
                                           data.preprocessor.sep_id)
        return build_text_model(self.config.model, data.preprocessor.vocabulary_size,
                                self.config.data.tokenizer.sequence_length, data.num_classes,
                                padding_id=data.preprocessor.pad_id, separator_id=data.preprocessor.sep_id)

    def warm_start(self, model, from_run: RunPaths) -> None:
        """From a pretraining run: its encoder (the head starts fresh); from a classifier run: everything."""
        if from_run.encoder.is_file():
            require_finished(from_run)
            copy_weights(load_keras_model(from_run.encoder), model.encoder, str(from_run.root))
        else:
            super().warm_start(model, from_run)

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        callbacks = []
        if log_dir is not None and "validation" in data.splits:
            validation = data.splits["validation"]
            callbacks.append(TextExamplesAndAttention(log_dir, validation.texts[:3], list(validation.labels[:3]),
                                                      data.preprocessor, class_names(data),
                                                      validation.second[:3] if validation.pairs else None))
        if self.config.trainer.finetune == "gradual":
            encoder = model.encoder
            body = getattr(encoder, "backbone", encoder)  # a preset's layers are its backbone's
            rest = [layer for layer in child_layers(body) if layer not in encoder.blocks]  # embeddings, norms
            groups = [[block] for block in reversed(encoder.blocks)] + [rest]
            callbacks.append(GradualUnfreezing(groups, every=self.config.trainer.unfreeze_every))
        return callbacks

    def keras_hub_preset(self, paths: RunPaths):
        return bert_preset(self.config, paths)

    def data_info(self, data: TaskData) -> dict:
        return {
            "task": "text_classification",
            "input": {"name": self.input_name, "shape": [], "dtype": "string",
                      **({"pair": PAIR_INPUT_NAME} if self.config.data.text.pairs else {})},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            **({"preset": {"name": self.config.init.preset, "family": preset_family(self.preset())}}
               if self.config.init.preset else {}),
            "num_classes": data.num_classes,
            "class_names": class_names(data),
            "examples": {role: len(texts) for role, texts in data.splits.items()},
            "sources": {role: texts.source for role, texts in data.splits.items()},
            "padding_fraction": data.padding_fraction,
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        if data_spec:
            texts, name = load_text(data_spec, split or "test", self.config.data.text), split or "data"
            assign_class_ids({name: texts}, info.get("class_names"), where="evaluation data")
        else:
            splits = self.load()
            name, texts = pick_split(splits, split)
        check_labels(texts, info["num_classes"], f"evaluation data '{name}'")
        preprocessor = self.run_preprocessor(paths)
        return token_ids(texts.texts, preprocessor, texts.second), texts.labels, name, texts.source

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """Raw strings -> token ids -> logits; the tokenizer and packer travel inside the SavedModel.
        A pair model takes two inputs, `text` and `text_pair`."""
        pairs = self.config.data.text.pairs
        preprocessor = self.run_preprocessor(paths)
        specs = [tf.TensorSpec((None,), tf.string, name=name) for name in [info["input"]["name"]] +
                 ([info["input"]["pair"]] if pairs else [])]
        preprocessor(*[tf.constant(["build"])] * len(specs))  # a first call builds the keras-hub layers (export needs it)

        def logits(*texts):
            return model(preprocessor(*texts), training=False)  # (B,) strings [x 2] -> (B, T) ids -> (B, classes)

        return Serving(logits, specs if pairs else specs[0], [preprocessor.tokenizer, preprocessor.packer])


def class_names(data: TaskData) -> list[str]:
    """The training set's class names when it has one a class, else the class ids as text."""
    train = data.splits["train"]
    if len(train.class_names) == data.num_classes:
        return list(train.class_names)
    return [str(i) for i in range(data.num_classes)]


def check_pretrained_compatible(config, paths: RunPaths) -> None:
    """A classifier built on a pretrained run must tokenize and be shaped as that run: say where not."""
    require_finished(paths)
    if not paths.vocabulary.is_file():
        raise RunDirError(f"init.from_run: '{paths.root}' has no {paths.vocabulary.name}; it is not a text run")
    pretrained = read_run_config(paths)
    differences = [f"data.tokenizer.{key}={getattr(config.data.tokenizer, key)!r} (pretrained: "
                   f"{getattr(pretrained.data.tokenizer, key)!r})"
                   for key in ("kind", "sequence_length", "lowercase", "strip_accents", "split_on_cjk")
                   if getattr(config.data.tokenizer, key) != getattr(pretrained.data.tokenizer, key)]
    if "encoder" in kind_rules(config.model.type).sections:  # a Transformer encoder: its shape must match
        differences += [f"model.encoder.{key}={getattr(config.model.encoder, key)!r} (pretrained: "
                        f"{getattr(pretrained.model.encoder, key)!r})"
                        for key in ("num_layers", "width", "num_heads", "ffn_dim", "norm_first", "position",
                                    "activation", "layer_norm_epsilon")
                        if getattr(config.model.encoder, key) != getattr(pretrained.model.encoder, key)]
    if differences:
        raise ConfigError(f"init.from_run: this config does not match the run in '{paths.root}': "
                          f"{'; '.join(differences)}; set the same values to start from it")
