"""What every text task shares: reading the specs, carving a validation set, the vocabulary."""

from __future__ import annotations

import keras_hub

from tfmodels.converters.keras_hub_bert import to_bert_backbone
from tfmodels.converters.presets import PresetPreprocessor, resolve_preset
from tfmodels.data.examples import train_and_validation
from tfmodels.data.streams import CorpusStream
from tfmodels.data.text import TextSet, held_out_texts, load_texts
from tfmodels.data.tokenizers import (
    TextPreprocessor,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)
from tfmodels.errors import ConfigError, DataError, ExportError
from tfmodels.networks import TransformerEncoder
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Task, TaskData
from tfmodels.transforms.lora import enable_lora, merged_copy


class TextTask(Task):
    def _load(self, specs, role: str, labelled: bool = True) -> TextSet:
        try:
            return load_texts(specs, role, self.config.data.text, labelled=labelled)
        except DataError as e:
            raise DataError(f"data.{role}: {e}") from None

    def _train_and_validation(self, labelled: bool) -> dict[str, TextSet]:
        data = self.config.data
        load = lambda specs, role: self._load(specs, role, labelled)  # noqa: E731
        train = load(data.train, "train")
        if isinstance(train, CorpusStream):  # a corpus read as a stream: its last file held out, or data.validation
            if data.validation:
                return {"train": train, "validation": load(data.validation, "validation")}
            try:
                train, validation = held_out_texts(train)
            except DataError as e:
                raise DataError(f"data.train: {e}") from None
            return {"train": train, "validation": validation}
        train, validation = train_and_validation(lambda specs, role: train if role == "train" else load(specs, role),
                                                 data.train, data.validation, data.validation_fraction, data.folds)
        return {"train": train, "validation": validation}

    def vocabulary_texts(self, train) -> TextSet:
        """What a vocabulary is learnt from: the training texts, or a streamed corpus's first
        `data.tokenizer.vocabulary_sample` texts."""
        if isinstance(train, CorpusStream):
            return TextSet(train.first_lines(self.config.data.tokenizer.vocabulary_sample), None, train.source)
        return train

    def preprocessor(self, resume_from: RunPaths | None, train: TextSet) -> TextPreprocessor | PresetPreprocessor:
        """The vocabulary: the resumed run's, else the pretrained run's (`init.from_run`), else learnt
        from the training text; from a preset (`init.preset`): the preset's own preprocessor."""
        tokenizer = self.config.data.tokenizer
        if self.config.init.preset:
            folder = resume_from.preset if resume_from is not None and resume_from.preset.is_dir() else self.preset()
            return PresetPreprocessor(str(folder), tokenizer.sequence_length, pairs=self.config.data.text.pairs)
        if resume_from is not None and resume_from.vocabulary.is_file():
            vocabulary = load_vocabulary(resume_from.vocabulary)
        elif self.config.init.from_run:  # the pretrained vocabulary, never a new one
            vocabulary = load_vocabulary(RunPaths(self.config.init.from_run).vocabulary)
        elif self.config.trainer.distill.teacher:  # a student's token ids mean what they mean to its teacher
            vocabulary = load_vocabulary(RunPaths(self.config.trainer.distill.teacher).vocabulary)
        else:
            vocabulary = learn_vocabulary(train.texts + (train.second or []), tokenizer, seed=self.config.runtime.seed)
        return TextPreprocessor(vocabulary, tokenizer, pairs=self.config.data.text.pairs)

    def configure_training(self, model) -> None:
        """`trainer.finetune` of a model with an `encoder`: frozen (only the head trains) or LoRA adapters."""
        trainer = self.config.trainer
        if trainer.finetune == "frozen":
            model.encoder.trainable = False
        elif trainer.finetune == "lora":
            enable_lora(model, trainer.lora_rank, trainer.lora_alpha, trainer.lora_targets)

    def model_for_saving(self, model):
        return merged_copy(model) if self.config.trainer.finetune == "lora" else model

    def check_teacher_preprocessing(self, paths: RunPaths, teacher_config, where: str) -> None:
        """The teacher tokenizes as this run does: the same vocabulary and the same tokenizer options."""
        if teacher_config.init.preset:
            raise ConfigError(f"{where} starts from a preset (init.preset), whose tokenizer this run does not read; "
                              "give a teacher of this project's tokenizer")
        mine, theirs = self.config.data.tokenizer, teacher_config.data.tokenizer
        for key in ("kind", "sequence_length", "lowercase", "strip_accents", "split_on_cjk"):
            if getattr(mine, key) != getattr(theirs, key):
                raise ConfigError(f"{where} was trained with data.tokenizer.{key}={getattr(theirs, key)} and this run "
                                  f"has {getattr(mine, key)}; set data.tokenizer.{key}={getattr(theirs, key)}")
        if self.config.init.from_run and (load_vocabulary(RunPaths(self.config.init.from_run).vocabulary)
                                          != load_vocabulary(paths.vocabulary)):
            raise ConfigError(f"{where} has another vocabulary than init.from_run='{self.config.init.from_run}'; the "
                              "student starts from that run and reads the teacher's token ids: give a teacher "
                              "fine-tuned from the same pretrained run")

    def preset(self) -> str:
        """`init.preset`, checked (a folder that holds a preset, or a hub name whose host answers), once."""
        if getattr(self, "_preset", None) is None:
            self._preset = resolve_preset(self.config.init.preset)
        return self._preset

    def run_preprocessor(self, paths: RunPaths) -> TextPreprocessor | PresetPreprocessor:
        """A finished run's preprocessor, from its folder alone (evaluate, export)."""
        sequence_length, pairs = self.config.data.tokenizer.sequence_length, self.config.data.text.pairs
        if self.config.init.preset:
            return PresetPreprocessor(str(paths.preset), sequence_length, pairs=pairs, where=f"run '{paths.root}'")
        return TextPreprocessor(load_vocabulary(paths.vocabulary), self.config.data.tokenizer, pairs=pairs)

    def save_assets(self, data: TaskData, paths: RunPaths, model=None) -> None:
        if isinstance(data.preprocessor, PresetPreprocessor):
            data.preprocessor.save(paths.preset, model.encoder.backbone)
        else:
            save_vocabulary(data.preprocessor.vocabulary, paths.vocabulary)


def bert_preset(config, paths: RunPaths):
    """(BertBackbone, BertTokenizer) of a run of our Transformer encoder: a pretraining run's `encoder.keras`,
    or a classifier's encoder (the head stays behind), wired as BERT (converters/keras_hub_bert.py)."""
    if config.init.preset:
        raise ExportError(f"--format keras-hub writes our Transformer encoders as BertBackbone presets and causal LMs "
                          f"as GPT2Backbone presets; this run is model.type={config.model.type} from a preset already")
    encoder = load_keras_model(paths.encoder) if paths.encoder.is_file() else load_keras_model(paths.model).encoder
    if not isinstance(encoder, TransformerEncoder):
        raise ExportError(f"--format keras-hub writes our Transformer encoders as BertBackbone presets; run "
                          f"'{paths.root}' holds a {type(encoder).__name__} (model.type={config.model.type})")
    try:
        backbone = to_bert_backbone(encoder)
    except ValueError as e:
        raise ExportError(f"run '{paths.root}': {e}; pretrain with those settings to export a BERT preset") from None
    t = config.data.tokenizer
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=load_vocabulary(paths.vocabulary), lowercase=t.lowercase,
                                               strip_accents=t.strip_accents, split_on_cjk=t.split_on_cjk)
    return backbone, tokenizer
