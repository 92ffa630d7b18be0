"""The Python API: a run folder or an export, loaded once and then called, as keras-hub's tasks and
Hugging Face's pipelines are.

    model = tfmodels.load("runs/encoder_sst2")            # a finished run folder, or an export folder
    model.predict(["a gripping film", "dull and long"])   # Predictions: class names, probabilities, .records()
    model.evaluate("tsv:../shared/data/text_cls/sst2/dev.tsv")     # the task's metrics on a labelled data spec
    model.generate("the film", max_new_tokens=50)         # a causal LM: the continuation
    model.translate(["Ein Mann fährt Fahrrad."])          # an encoder-decoder: Translations (beam search)
    for piece in model.generate("the film", stream=True): # ... or its pieces as they come
        print(piece, end="")

`predict` takes raw inputs: texts, (first, second) pairs for a sentence-pair model, or images as an
array (N, H, W) in [0, 1]. The command line calls the same functions (`verbs/predict.py`,
`verbs/generate.py`, `verbs/evaluate.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError, ExportError, RunDirError
from tfmodels.files import read_json
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.tasks import task_for
from tfmodels.verbs.predict import PAIR_SEPARATOR, Predictions, ServingModel


def load(path: str | os.PathLike, trust_code: bool = False) -> "RunModel | ExportedModel":
    """A finished run folder (`config.yaml`, `model.keras`) or a SavedModel written by `tfmodels export`."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return ExportedModel(path)
    if (path / "config.yaml").is_file():
        return RunModel(path, trust_code=trust_code)
    if path.is_dir() and any(p.name.isdigit() and (p / "saved_model.pb").is_file() for p in path.iterdir()):
        newest = max((p for p in path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        return ExportedModel(newest)  # an export's model folder: its newest version, as TF Serving serves it
    raise RunDirError(f"'{path}' is neither a run folder (no config.yaml) nor an export (no saved_model.pb); "
                      "give a folder that `tfmodels train` or `tfmodels export` wrote")


def _as_texts(inputs, pairs: bool) -> list[str]:
    """Texts, or for a pair model (first, second) tuples or "first<TAB>second" strings, as the export takes them."""
    if isinstance(inputs, str):
        inputs = [inputs]
    texts = [PAIR_SEPARATOR.join(x) if pairs and isinstance(x, (tuple, list)) else x for x in inputs]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError("give a non-empty list of non-empty texts" + (" (or (first, second) pairs)" if pairs else ""))
    return texts


class RunModel:
    """A finished run folder: its model, loaded once, with the task that trained it."""

    def __init__(self, run_dir: str | os.PathLike, trust_code: bool = False):
        self.paths = RunPaths(run_dir)
        require_finished(self.paths)
        self.config = read_run_config(self.paths)
        self.task = task_for(self.config)
        self.info = read_json(self.paths.data_info)
        self.trust_code = trust_code
        self._model, self._serving = None, None

    def __repr__(self) -> str:
        return f"RunModel('{self.paths.root}', {self.config.model.type})"

    @property
    def model(self):
        """The Keras model (loaded on first use)."""
        if self._model is None:
            from tfmodels.saving import load_keras_model

            self._model = load_keras_model(self.paths.model, trust_code=self.trust_code)
        return self._model

    def predict(self, inputs, batch_size: int = 256, predicate=None, contexts=None) -> Predictions:
        """Classes and probabilities of raw inputs, through the same graph the export serves; a token
        classifier's words and tags (`TagPredictions`; `predicate`: a semantic-role model's word index); a
        question answerer's answers (`AnswerPredictions`) of questions and `contexts` (or "question<TAB>context")."""
        if self._serving is None:
            self._serving = self.task.serving(self.model, self.paths, self.info)
        serving = self._serving
        if "tags" in serving.feature_shapes:
            from tfmodels.verbs.predict_tags import TaggerModel

            srl = isinstance(serving.input_spec, list)
            fn = (lambda text, predicate: serving.features(text, predicate)) if srl else \
                (lambda text: serving.features(text))
            return TaggerModel(fn, srl, self.info["input"].get("words", "whitespace"))(inputs, predicate, batch_size)
        if "answer" in serving.feature_shapes:
            from tfmodels.verbs.predict_qa import QAModel

            return QAModel(lambda question, context: serving.features(question, context),
                           self.config.data.qa.max_question_tokens, self.info.get("language", "en"))(
                inputs, contexts, min(batch_size, 32))
        if serving.logits is None:
            raise ExportError(f"{self!r} is not a classifier (its export returns {', '.join(serving.feature_shapes)}); "
                              "call .model, or .generate for a language model")
        specs = serving.input_spec if isinstance(serving.input_spec, list) else [serving.input_spec]
        if specs[0].dtype == tf.string:
            texts = _as_texts(inputs, pairs=len(specs) == 2)
            columns = [list(c) for c in zip(*(t.split(PAIR_SEPARATOR, 1) for t in texts))] if len(specs) == 2 \
                else [texts]
            if len(specs) == 2 and len(columns[0]) != len(texts):
                raise DataError("this model reads sentence pairs: give (first, second) tuples")
        else:
            texts = None
            pixels = np.asarray(inputs, np.float32)
            shape = tuple(specs[0].shape[1:])
            if pixels.ndim == len(shape):
                pixels = pixels[None]
            if tuple(pixels.shape[1:]) != shape:
                raise DataError(f"the model takes inputs of shape {list(shape)}, got {list(pixels.shape[1:])}")
            columns = [pixels]
        logits = [serving.logits(*[tf.constant(c[i:i + batch_size]) for c in columns])
                  for i in range(0, len(columns[0]), batch_size)]
        probabilities = np.concatenate([tf.nn.softmax(tf.cast(x, tf.float32), -1).numpy() for x in logits])
        names = self.info.get("class_names") or [str(c) for c in range(probabilities.shape[1])]
        ids = probabilities.argmax(-1)
        return Predictions(ids, probabilities[np.arange(len(ids)), ids], None, [names[i] for i in ids], texts,
                           probabilities, names)

    def translate(self, sources, beam_size: int | None = None):
        """An encoder-decoder's outputs (`Translations`) of source texts, by beam search (`beam_size` 1: greedy;
        None: the run's data.seq2seq.beam_size), through the graph its export serves."""
        from tfmodels.verbs.translate import TranslateModel

        if self._serving is None:
            self._serving = self.task.serving(self.model, self.paths, self.info)
        if "translate" not in self._serving.signatures:
            raise ExportError(f"{self!r} is not an encoder-decoder; translate needs one (a run of configs/s2s_*.yaml)")
        s2s = self.config.data.seq2seq
        return TranslateModel(self._serving.signatures["translate"][0], s2s.max_source_tokens, s2s.beam_size)(
            sources, beam_size)

    def generate(self, prompt: str, max_new_tokens: int = 200, stream: bool = False, **sampling) -> str | Iterator[str]:
        """The continuation of `prompt` (a causal LM), or with `stream=True` an iterator of its pieces as they
        come. `sampling`: sampler ("greedy", "top_k", "top_p", "random", "beam"), temperature, top_k, top_p,
        seed, adapters (a LoRA run's adapters.npz)."""
        from tfmodels.verbs.generate import generate, stream_generate

        if stream:
            return stream_generate(self.paths.root, prompt, max_new_tokens, model=self.model, **sampling)
        return generate(self.paths.root, prompt, max_new_tokens, model=self.model, **sampling).text

    def evaluate(self, data: str | None = None, split: str | None = None) -> dict:
        """The task's metrics on a data spec (default: the run's test split, or its validation), recorded in
        the run's metrics.json as `tfmodels evaluate` records them."""
        from tfmodels.verbs.evaluate import evaluate_run

        return evaluate_run(self.paths.root, data_spec=data, split=split, trust_code=self.trust_code)[1]

    def export(self, out: str | os.PathLike | None = None) -> "ExportedModel":
        """`tfmodels export`: the run as a SavedModel (the next version under savedmodels/<run>/), loaded."""
        from tfmodels.verbs.export import export_run

        return ExportedModel(export_run(self.paths.root, out=out, trust_code=self.trust_code))


class ExportedModel:
    """A SavedModel written by `tfmodels export`, run with TensorFlow alone (no tfmodels classes)."""

    def __init__(self, export_dir: str | os.PathLike):
        self.path = Path(export_dir)
        if not (self.path / "saved_model.pb").is_file():
            raise ExportError(f"'{self.path}' is not a SavedModel folder (no saved_model.pb); "
                              "give a folder that `tfmodels export` wrote")
        self.info = read_json(self.path / "tfmodels_export.json")
        import tensorflow_text  # noqa: F401  (the tokenizer ops of a text model's graph)

        self._loaded = tf.saved_model.load(str(self.path))  # keep: the signatures need it alive
        self._classifier = None

    def __repr__(self) -> str:
        return f"ExportedModel('{self.path}', {self.info.get('kind', 'model')})"

    @property
    def signatures(self) -> dict:
        return dict(self._loaded.signatures)

    def predict(self, inputs, batch_size: int = 512, predicate=None, contexts=None) -> Predictions:
        """Classes and probabilities of raw inputs: texts, (first, second) pairs, or images (N, H, W) in [0, 1];
        a token classifier's words and tags (`TagPredictions`) of sentences (and a predicate's word index); a
        question answerer's answers (`AnswerPredictions`) of questions and `contexts` (or "question<TAB>context")."""
        if "tags" in self.info.get("outputs", {}):  # a token classifier's export: words and their tags
            from tfmodels.verbs.predict_tags import TaggerModel

            return TaggerModel.of_export(self._loaded, self.info)(inputs, predicate, batch_size)
        if "answer" in self.info.get("outputs", {}):  # a question answerer's export
            from tfmodels.verbs.predict_qa import QAModel

            return QAModel.of_export(self._loaded, self.info)(inputs, contexts, min(batch_size, 32))
        if self._classifier is None:
            self._classifier = ServingModel(self.path)
        model = self._classifier
        if model.takes_text:
            texts = _as_texts(inputs, pairs=model.takes_pairs)
            outputs = model(texts, batch_size)
        else:
            texts = None
            pixels = np.asarray(inputs, np.float32)
            outputs = model(pixels[None] if pixels.ndim == len(model.input_shape) else pixels, batch_size)
        probabilities = outputs["probabilities"]
        ids = outputs["class_id"].astype(np.int64)
        return Predictions(ids, probabilities[np.arange(len(ids)), ids], None,
                           [n.decode("utf-8") for n in outputs["class_name"]], texts, probabilities,
                           model.class_names or [str(c) for c in range(probabilities.shape[1])])

    def translate(self, sources, beam_size: int | None = None):
        """The `translate` signature of an encoder-decoder's export (`Translations`)."""
        from tfmodels.verbs.translate import TranslateModel

        if "translate" not in self._loaded.signatures:
            raise ExportError(f"{self!r} has no translate signature: it is not an encoder-decoder")
        return TranslateModel.of_export(self._loaded, self.info)(sources, beam_size)

    def generate(self, prompt: str, max_new_tokens: int = 200, stream: bool = False, temperature: float = 0.0,
                 seed: int = 0, chunk: int = 8) -> str | Iterator[str]:
        """The `generate` signature of a causal LM's export (temperature 0: greedy). `stream=True` calls it
        `chunk` tokens at a time, each call continuing the text so far, and yields each new piece."""
        if "generate" not in self._loaded.signatures:
            raise ExportError(f"{self!r} has no generate signature: it is not a causal language model")
        if max_new_tokens < 1:
            raise DataError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        pieces = signature_pieces(self._loaded.signatures["generate"], prompt, max_new_tokens, temperature, seed,
                                  chunk if stream else max_new_tokens)
        return pieces if stream else "".join(pieces)

    def evaluate(self, data: str) -> dict:
        """Accuracy, per-class precision/recall/F1 and macro-F1 on a labelled data spec (as `tfmodels predict`
        reads it)."""
        from tfmodels.tasks.reports import classification_metrics
        from tfmodels.verbs.predict import predict

        result = predict(self.path, [data])
        if result.labels is None:
            raise DataError(f"'{data}' has no labels to score against; give a labelled data spec")
        return classification_metrics(result.labels, result.class_ids, result.all_probabilities.shape[1])


def signature_pieces(fn, prompt: str, max_new_tokens: int, temperature: float = 0.0, seed: int = 0,
                     chunk: int = 8) -> Iterator[str]:
    """Calls an export's `generate` signature `chunk` tokens at a time, each call continuing the text so
    far, and yields each new piece (a prompt the graph refuses: DataError, with the graph's one line)."""
    text, left = prompt, max_new_tokens
    while left > 0:
        try:
            out = fn(prompt=tf.constant(text), max_new_tokens=tf.constant(min(chunk, left), tf.int32),
                     temperature=tf.constant(float(temperature), tf.float32), seed=tf.constant(seed, tf.int32))
        except tf.errors.InvalidArgumentError as e:
            raise DataError(graph_error(e)) from None
        piece = out["text"].numpy().decode("utf-8", errors="replace")
        left -= chunk
        text += piece
        if piece:
            yield piece


def graph_error(error: tf.errors.OpError) -> str:
    """The one line a graph's failed check says (`tf.debugging.assert_*`'s message), else its first line."""
    import re

    found = re.search(r"assertion failed: \[([^\]]+)\]", error.message)
    return found[1] if found else (error.message.strip().splitlines() or ["invalid argument"])[0][:300]
