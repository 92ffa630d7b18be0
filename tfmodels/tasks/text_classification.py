"""Text classification: raw strings -> token ids (in the pipeline) -> class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfmodels.data.text import TextSet, load_text
from tfmodels.data.text_pipeline import text_dataset, token_ids
from tfmodels.data.tokenizers import (
    TextPreprocessor,
    check_tokenizer_config,
    load_vocabulary,
)
from tfmodels.errors import ConfigError, DataError, RunDirError
from tfmodels.models import build_text_model, check_text_model_config
from tfmodels.models.lora import enable_lora, merged_copy
from tfmodels.tasks.text_summaries import TextExamplesAndAttention
from tfmodels.tasks.text_task import TextTask
from tfmodels.training.callbacks import GradualUnfreezing

ENCODER_FILE = "encoder.keras"  # what a pretraining run keeps of its model


class TextClassification(TextTask):
    input_name = "text"

    def load(self) -> None:
        """Loads and checks train/validation/test; sets `splits` and `num_classes`."""
        data = self.config.data
        check_text_model_config(self.config.model)
        check_tokenizer_config(data.tokenizer)
        train, validation = self._train_and_validation(labelled=True)
        self.splits = {"train": train, "validation": validation}
        if data.test:
            self.splits["test"] = self._load(data.test, "test")
        if self.config.init.from_run:
            check_pretrained_compatible(self.config, self.config.init.from_run)
        self.num_classes = self.config.model.num_classes or int(train.labels.max()) + 1
        if self.num_classes < 2:
            raise DataError(f"data.train ('{train.source}') has labels of only one class; a classifier needs two or more")
        for role, texts in self.splits.items():
            check_text_labels(texts, self.num_classes, f"data.{role}")

    def datasets(self, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        data = self.config.data
        train = text_dataset(self.splits["train"], self.preprocessor, global_batch, training=True, seed=seed,
                             epochs=epochs, first_epoch=first_epoch)
        # How much of what the model reads is [PAD] (a sequence length far above the texts wastes time).
        ids = np.concatenate([x for x, _ in train.take(20).as_numpy_iterator()])
        self.padding_fraction = float(np.mean(ids == self.preprocessor.pad_id))
        evaluation = {role: text_dataset(texts, self.preprocessor, global_batch, training=False, seed=seed,
                                         cache=data.cache)
                      for role, texts in self.splits.items() if role != "train"}
        return train, evaluation

    def build_model(self):
        return build_text_model(self.config.model, self.preprocessor.vocabulary_size,
                                self.config.data.tokenizer.sequence_length, self.num_classes,
                                padding_id=self.preprocessor.pad_id)

    def warm_start(self, model, run_dir) -> None:
        """From a pretraining run: its encoder (the head starts fresh); from a classifier run: everything."""
        from tfmodels.training.warm_start import load_initial_weights

        if (Path(run_dir) / ENCODER_FILE).is_file():
            load_initial_weights(model.encoder, run_dir, what="encoder")
        else:
            load_initial_weights(model, run_dir)

    def configure_training(self, model) -> None:
        trainer = self.config.trainer
        self._model = model
        if trainer.finetune == "gradual" and not hasattr(model.encoder, "blocks"):
            raise ConfigError("trainer.finetune=gradual unfreezes encoder blocks; the bag-of-words baseline has none")
        if trainer.finetune == "frozen":
            model.encoder.trainable = False  # only the head trains
        elif trainer.finetune == "lora":
            if trainer.lora_rank < 1:
                raise ConfigError(f"trainer.lora_rank must be at least 1, got {trainer.lora_rank}")
            enable_lora(model, trainer.lora_rank)

    def callbacks(self, global_batch: int, log_dir=None) -> list:
        callbacks = []
        if log_dir is not None and "validation" in self.splits:
            validation = self.splits["validation"]
            names = self.data_info()["class_names"]
            callbacks.append(TextExamplesAndAttention(log_dir, validation.texts[:3], list(validation.labels[:3]),
                                                      self.preprocessor, names))
        if self.config.trainer.finetune != "gradual":
            return callbacks
        if self.config.trainer.unfreeze_every < 1:
            raise ConfigError(f"trainer.unfreeze_every must be at least 1, got {self.config.trainer.unfreeze_every}")
        encoder = self._model.encoder
        rest = [layer for layer in encoder._layers if layer not in encoder.blocks]  # embeddings, norms
        groups = [[block] for block in reversed(encoder.blocks)] + [rest]
        return [*callbacks, GradualUnfreezing(groups, every=self.config.trainer.unfreeze_every)]

    def model_for_saving(self, model):
        return merged_copy(model) if self.config.trainer.finetune == "lora" else model

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
            **({"padding_fraction": self.padding_fraction} if hasattr(self, "padding_fraction") else {}),
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


def check_pretrained_compatible(config, run_dir) -> None:
    """A classifier built on a pretrained run must tokenize and be shaped as that run: say where not."""
    from tfmodels.training.run_dir import RunPaths, read_run_config, require_finished

    paths = RunPaths(Path(run_dir))
    require_finished(paths)
    if not (paths.root / "vocabulary.txt").is_file():
        raise RunDirError(f"init.from_run: '{run_dir}' has no vocabulary.txt; it is not a text run")
    pretrained = read_run_config(paths)
    differences = [f"data.tokenizer.{key}={getattr(config.data.tokenizer, key)!r} (pretrained: "
                   f"{getattr(pretrained.data.tokenizer, key)!r})"
                   for key in ("kind", "sequence_length", "lowercase", "strip_accents", "split_on_cjk")
                   if getattr(config.data.tokenizer, key) != getattr(pretrained.data.tokenizer, key)]
    if config.model.type == "transformer":
        differences += [f"model.encoder.{key}={getattr(config.model.encoder, key)!r} (pretrained: "
                        f"{getattr(pretrained.model.encoder, key)!r})"
                        for key in ("num_layers", "width", "num_heads", "ffn_dim", "norm_first", "position",
                                    "activation", "layer_norm_epsilon")
                        if getattr(config.model.encoder, key) != getattr(pretrained.model.encoder, key)]
    if differences:
        raise ConfigError(f"init.from_run: this config does not match the run in '{run_dir}': "
                          f"{'; '.join(differences)}; set the same values to start from it")


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
