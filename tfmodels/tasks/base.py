"""What every task offers the verbs, with the defaults of a classifier.

A task is what a kind of data needs around a model. Its hooks take what they need as arguments
and return what they make, so the order is the data flow itself:

    splits = task.load()                                   # read and check the data (no run folder yet)
    data = task.prepare(splits, resume_from)               # learn (or read back) preprocessing: TaskData
    train, evaluation = task.datasets(data, global_batch, seed, epochs, first_epoch)
    model = task.build_model(data)                         # in the strategy's scope, then:
    teacher = task.teacher(data)                           # trainer.distill: the teacher's run, checked
    task.warm_start(model, from_run); task.configure_training(model); task.compile_args()
    task.callbacks(model, data, global_batch, log_dir)     # extra callbacks of this task
    task.save_assets(data, paths, model); task.data_info(data)    # beside the model in the run folder
    task.split_metrics(model, data, role)                  # metrics.json: more than the compiled metrics
    task.finish(model, paths); task.model_for_saving(model)
    task.evaluate(paths, info, data_spec, split)           # `evaluate`: (name, metrics); reports.py prints them
    task.model_inputs(paths, info, data_spec, split)       # what the model takes: calibration, comparisons
    task.serving(model, paths, info)                       # `export`: Serving(fn, input_spec, trackables)
    task.export_outputs(info, serving)                     # what the export's record says it returns
    task.keras_hub_preset(paths)                           # `export --format keras-hub`
    task.generation(paths)                                 # `generate`: the run's tokenizer and context
    task.gptq_calibration(paths, info, limit)              # `quantize --mode gptq`
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from tfmodels.config import Config
from tfmodels.errors import ConfigError, DataError, ExportError, RunDirError
from tfmodels.files import read_json
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model, save_adapters
from tfmodels.tasks.reports import evaluate_classifier
from tfmodels.training.warm_start import copy_weights


@dataclass
class TaskData:
    """A task's data once prepared: the checked splits, the class count, and the preprocessing (a task
    that keeps more subclasses it, with typed fields)."""

    splits: dict
    num_classes: int = 0
    preprocessor: Any = None  # text: the TextPreprocessor (vocabulary, tokenizer, packer)
    train_examples: int = 0  # examples a training epoch draws from (pretraining: token sequences)


@dataclass
class Serving:
    """What `export` needs of a task: the model's logits of the raw serving input, that input's
    signature, and the objects the SavedModel must track beside the model (e.g. the tokenizer).

    A classifier gives `logits` (the export adds probabilities, class ids and names); a model that is
    not a classifier (a pretrained encoder) gives `features` instead: raw input -> {name: tensor},
    described in `feature_shapes` ({name: shape}, "batch" for the batch dimension).
    """

    logits: Callable | None
    input_spec: tf.TensorSpec | list  # a list: several named inputs (a sentence pair's text and text_pair)
    trackables: list = field(default_factory=list)
    features: Callable | None = None
    feature_shapes: dict = field(default_factory=dict)
    signatures: dict = field(default_factory=dict)  # more endpoints: {name: (fn, [input TensorSpecs])}


class Task:
    input_name = "inputs"
    export_kind = "classifier"  # what tfmodels_export.json says the SavedModel is
    # Whether the loss is a mean over weighted elements whose count varies from batch to batch (a tagger's
    # words): under several replicas the update then divides by the count over all of them (train.py).
    varying_loss_weight = False

    def __init__(self, config: Config):
        self.config = config

    def load(self) -> dict:  # pragma: no cover - every task overrides it
        """{role: examples} for train, validation and (if configured) test, checked."""
        raise NotImplementedError

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        """Learn what preprocessing needs from the training data (or read it back from a resumed run)."""
        raise NotImplementedError  # pragma: no cover

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        """(training batches for epochs first_epoch .. epochs - 1 in one stream, {role: evaluation batches})."""
        raise NotImplementedError  # pragma: no cover

    def build_model(self, data: TaskData) -> keras.Model:
        raise NotImplementedError  # pragma: no cover

    def compile_args(self) -> dict:
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        return []

    def teacher(self, data: TaskData) -> RunPaths | None:
        """`trainer.distill.teacher`, checked against this run's data before any file is written: a finished
        run of the same task, with the same classes (in the same order) and the same inputs."""
        spec = self.config.trainer.distill.teacher
        if not spec:
            return None
        paths = RunPaths(spec)
        require_finished(paths)
        theirs, mine = read_json(paths.data_info), self.data_info(data)
        where = f"trainer.distill.teacher: '{spec}'"
        if theirs.get("task") != mine["task"]:
            raise ConfigError(f"{where} is a {theirs.get('task', 'unknown')} run and this one {mine['task']}; a teacher "
                              "is a classifier of the same kind of input")
        if theirs.get("class_names") != mine["class_names"]:
            raise ConfigError(f"{where} has {theirs.get('num_classes')} classes ({', '.join(theirs.get('class_names', []))}) "
                              f"and this run {mine['num_classes']} ({', '.join(mine['class_names'])}); a student learns "
                              "the teacher's classes: give a teacher trained on the same labels")
        self.check_teacher_preprocessing(paths, read_run_config(paths), where)
        for key in ("input", "token_ids"):
            if theirs.get(key) != mine.get(key):
                raise ConfigError(f"{where} reads {key.replace('_', ' ')} {theirs.get(key)} and this run {mine.get(key)}; "
                                  "the teacher reads the student's batches, so they must be the same")
        return paths

    def check_teacher_preprocessing(self, paths: RunPaths, teacher_config: Config, where: str) -> None:
        """What else must be equal for the teacher to read the student's inputs (text: the tokenizer)."""

    def warm_start(self, model, from_run: RunPaths) -> None:
        """Start from a finished run's weights (`init.from_run`): the whole model, shapes one for one."""
        require_finished(from_run)
        copy_weights(load_keras_model(from_run.model), model, str(from_run.root))

    def configure_training(self, model) -> None:
        """Choose what trains (e.g. freeze parts, add adapters) before the model is compiled."""

    def save_assets(self, data: TaskData, paths: RunPaths, model=None) -> None:
        """Write what the run folder needs beside the model (e.g. a vocabulary)."""

    def data_info(self, data: TaskData) -> dict:  # pragma: no cover
        raise NotImplementedError

    def finish(self, model, paths: RunPaths) -> None:
        """After training, with the best weights loaded: a LoRA run writes its adapters alone."""
        t = self.config.trainer
        if t.finetune == "lora":
            save_adapters(model, paths.adapters, t.lora_rank, t.lora_alpha, t.lora_targets,
                          base=self.config.init.from_run or self.config.init.preset or "",
                          template=self.config.data.text.template)

    def split_metrics(self, model, data: TaskData, role: str) -> dict:
        """What a split's final metrics hold besides the compiled loss and metrics (a tagger: entity F1)."""
        return {}

    def model_for_saving(self, model):
        """The model written to model.keras (e.g. with adapters merged into plain weights)."""
        return model

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(model inputs, labels, name, source) for `evaluate`."""
        raise NotImplementedError  # pragma: no cover

    def evaluate(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None,
                 trust_code: bool = False) -> tuple[str, dict]:
        """(name, metrics) of the finished run on one of its splits or on `data_spec`: a classifier's."""
        return evaluate_classifier(self, paths, info, data_spec, split, trust_code)

    def model_inputs(self, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                     limit: int = 256) -> np.ndarray:
        """Up to `limit` inputs (N, ...) of `split` (or `data_spec`) as the model itself takes them (after
        the run's tokenizer): calibration for quantization, comparisons of an export with its model."""
        inputs = np.asarray(self.evaluation_data(paths, info, data_spec, split)[0])[:limit]
        return _checked_inputs(inputs, info, data_spec or split)

    def export_outputs(self, info: dict, serving: Serving) -> tuple[str, dict, dict]:
        """(kind, {output: shape}, more keys) for the export's tfmodels_export.json."""
        if serving.features is not None:
            return self.export_kind, serving.feature_shapes, {}
        return self.export_kind, {"probabilities": ["batch", info["num_classes"]], "class_id": ["batch"],
                                  "class_name": ["batch"]}, \
            {"num_classes": info["num_classes"], "class_names": info.get("class_names")}

    def keras_hub_preset(self, paths: RunPaths):
        """(backbone, tokenizer) of the run as keras-hub objects, for `export --format keras-hub`."""
        raise ExportError(f"--format keras-hub writes our Transformer encoders as BertBackbone presets and causal LMs "
                          f"as GPT2Backbone presets; this run is model.type={self.config.model.type}")

    def generation(self, paths: RunPaths):
        """What `generate` needs of a causal LM's run: (its tokenizer, block size, template)."""
        raise RunDirError(f"'{paths.root}' is a {self.config.model.type} run, not a causal language model; generate "
                          "needs a run of a causal LM (e.g. configs/gpt_shakespeare_char.yaml)")

    def gptq_calibration(self, paths: RunPaths, info: dict, limit: int):
        """Token sequences that GPTQ calibrates on (a causal LM's training text)."""
        raise ConfigError(f"--mode gptq quantizes a causal LM's decoder blocks; '{paths.root}' is a "
                          f"{self.config.model.type} run: use --mode int8 or int4")

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """The exported SavedModel's serving input and logits."""
        raise NotImplementedError  # pragma: no cover


def read_one_spec(spec, role: str, reader: Callable, one: str):
    """`reader(spec, role)` of a split's one data spec (`one`: what reads it, for the message when a list holds
    several); a reader's DataError says which split it was."""
    if isinstance(spec, list):
        if len(spec) != 1:
            raise DataError(f"data.{role} lists {len(spec)} specs; {one} reads one file a split")
        spec = spec[0]
    try:
        return reader(spec, role)
    except DataError as e:
        raise DataError(f"data.{role}: {e}") from None


def pick_split(splits: dict, split: str | None):
    """(name, set) of the split `evaluate` reads: `split`, else the test set, else the validation set."""
    name = split or ("test" if "test" in splits else "validation")
    if name not in splits:
        raise DataError(f"this run has no '{name}' set (its splits: {', '.join(splits)}); "
                        "pass --split with one of them, or --data SPEC")
    return name, splits[name]


def _checked_inputs(inputs: np.ndarray, info: dict, where: str) -> np.ndarray:
    """`inputs` as the model takes them (int32 token ids or float32 pixels), or a DataError."""
    expected = info["input"].get("dtype")
    text = expected in ("string", "int32")
    if len(inputs) == 0:
        raise DataError(f"'{where}' gave no examples for this run's model")
    if text != (inputs.dtype.kind in "iu"):
        raise DataError(f"'{where}' gives {'token ids' if inputs.dtype.kind in 'iu' else 'images'}, "
                        f"but this run's model takes {'text' if text else 'images'}")
    return inputs.astype(np.int32) if text else inputs.astype(np.float32)
