"""Extractive question answering: the answer to a question is a span of its context (SQuAD v1.1, DRCD).

    (question, context) -> windows [CLS] question [SEP] context piece [SEP]   (`data/qa_packer.py`)
      -> the encoder -> a start and an end logit a token                      (`models/span_labeler.py`)
      -> the best spans over all windows, as text and character offsets        (`decoding/spans.py`)

Training reads every window of every question; a window that holds the whole answer (its first
gold answer) targets the answer's first and last sub-words, one that does not targets [CLS] at
position 0 (BERT's rule: the window has no answer). The loss is the mean of the start and the end
cross-entropies. Exact match and F1 are the published scripts' (`qa_metrics.py`), on answers decoded
exactly as the exported model decodes them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from tfmodels.converters.presets import load_backbone, preset_family
from tfmodels.data.order import batches_by_length, training_batches, trim_padding
from tfmodels.data.qa import QASet, carve_by_article, load_qa
from tfmodels.data.qa_packer import QAPacker
from tfmodels.data.text import TextSet
from tfmodels.decoding.spans import answers, window_candidates
from tfmodels.errors import DataError
from tfmodels.models import build_span_model
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Serving, TaskData, pick_split, read_one_spec
from tfmodels.tasks.qa_metrics import answer_scores, text_language
from tfmodels.tasks.reports import add_report
from tfmodels.tasks.text_task import TextTask

PACK_BATCH = 256  # questions packed at a time
WINDOW_BATCH = 32  # windows a forward pass while answering


@dataclass
class PackedQuestions:
    """A question set as the model reads it: its windows (N of them) and the way back to the text."""

    token_ids: np.ndarray  # (N, T) int32
    targets: np.ndarray  # (N, 2) int32: the answer's first and last positions in the window; (0, 0): not in it
    example: np.ndarray  # (N,) int32: the question each window reads
    window_start: np.ndarray  # (N,) int32
    context_position: np.ndarray  # (N,) int32
    context_length: np.ndarray  # (N,) int32
    token_begin: np.ndarray  # (B, C) int32: byte offsets of each context sub-word's word (-1: past the context)
    token_end: np.ndarray  # (B, C) int32
    question_cut: np.ndarray  # (B,) bool
    pad_id: int = 0

    def decoding_inputs(self) -> dict:
        return {"example": self.example, "window_start": self.window_start, "context_position": self.context_position,
                "token_begin": self.token_begin, "token_end": self.token_end}

    @property
    def answerable_windows(self) -> int:
        return int(np.sum(self.targets[:, 0] > 0))


@dataclass
class QAData(TaskData):
    packed: dict = field(default_factory=dict)  # {role: PackedQuestions}
    language: str = "en"


class QuestionAnswering(TextTask):
    input_name = "question"
    export_kind = "question_answerer"

    # --- reading and preparing ---------------------------------------------------------------------

    def _read(self, spec, role: str) -> QASet:
        return read_one_spec(spec, role, load_qa, "a question answerer")

    def load(self) -> dict:
        data = self.config.data
        train = self._read(data.train, "train")
        if data.validation:
            splits = {"train": train, "validation": self._read(data.validation, "validation")}
        else:
            carved = carve_by_article(train, data.validation_fraction)  # by article: no paragraph on both sides
            splits = {"train": carved[0], "validation": carved[1]}
        if data.test:
            splits["test"] = self._read(data.test, "test")
        if self.config.init.preset:
            self.preset()
        return splits

    def language(self, train: QASet) -> str:
        chosen = self.config.data.qa.language
        return text_language(train.contexts) if chosen == "auto" else chosen

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        train = splits["train"]
        contexts = list(dict.fromkeys(train.contexts))  # each paragraph once
        text = TextSet(contexts + train.questions, None, train.source)
        preprocessor = self.preprocessor(resume_from, text)
        packer = qa_packer(preprocessor, self.config)
        packed = {role: pack(qa, packer) for role, qa in splits.items()}
        return QAData(splits, 2, preprocessor, train_examples=len(packed["train"].token_ids), packed=packed,
                      language=self.language(train))

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        train = data.packed["train"]
        if len(train.token_ids) < global_batch:
            raise DataError(f"the training set ('{data.splits['train'].source}') has {len(train.token_ids)} windows, "
                            f"fewer than one batch of {global_batch}; lower trainer.batch_size")
        pad = data.preprocessor.pad_id
        if self.config.data.batch_by_length:
            train_ds = batches_by_length(train.token_ids, train.targets, pad, global_batch, seed, epochs, first_epoch)
        else:
            train_ds = training_batches((train.token_ids, train.targets), global_batch, seed, epochs, first_epoch)
        evaluation = {}
        for role, packed in data.packed.items():
            if role == "train":
                continue
            ds = tf.data.Dataset.from_tensor_slices((packed.token_ids, packed.targets)).batch(global_batch)
            evaluation[role] = trim_padding(ds, pad) if self.config.data.batch_by_length else ds
        return train_ds.prefetch(tf.data.AUTOTUNE), evaluation

    # --- the model and its training ------------------------------------------------------------------

    def build_model(self, data: TaskData):
        length = self.config.data.tokenizer.sequence_length
        backbone = None
        if self.config.init.preset:
            backbone = load_backbone(self.preset(), data.preprocessor.vocabulary_size, sequence_length=length)
        return build_span_model(self.config.model, data.preprocessor.vocabulary_size, length,
                                data.preprocessor.pad_id, data.preprocessor.sep_id, backbone=backbone)

    def compile_args(self) -> dict:
        """Cross-entropy of the start and of the end position (their mean), and how often each is right."""
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="position_accuracy")]}

    def split_metrics(self, model, data: TaskData, role: str) -> dict:
        """Exact match and F1 (the published scripts') of the answers `predict` would give."""
        result = qa_result(data.splits[role], answer_set(model, data.packed[role], data.splits[role], self.config),
                           data.packed[role], data.language)
        return {key: result[key] for key in ("exact_match", "f1")}

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        if "validation" not in data.packed:
            return []
        return [AnswerF1(data.packed["validation"], data.splits["validation"], self.config, data.language, log_dir)]

    def data_info(self, data: TaskData) -> dict:
        qa = self.config.data.qa
        return {
            "task": "question_answering",
            "input": {"name": self.input_name, "shape": [], "dtype": "string", "context": "context"},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            **({"preset": {"name": self.config.init.preset, "family": preset_family(self.preset())}}
               if self.config.init.preset else {}),
            "num_classes": 2,
            "class_names": ["start", "end"],
            "language": data.language,
            "windows": {"stride": qa.stride, "max_question_tokens": qa.max_question_tokens,
                        "max_answer_tokens": qa.max_answer_tokens},
            "examples": {role: len(s) for role, s in data.splits.items()},
            "window_counts": {role: len(p.token_ids) for role, p in data.packed.items()},
            "answerable_windows": {role: p.answerable_windows for role, p in data.packed.items()},
            "cut_questions": {role: int(p.question_cut.sum()) for role, p in data.packed.items()},
            "skipped_answers": {role: s.bad_answers for role, s in data.splits.items()},
            "dropped_questions": {role: s.dropped_questions for role, s in data.splits.items()},
            "sources": {role: s.source for role, s in data.splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(packed windows, the question set, name, source) of a split or a data spec."""
        if data_spec:
            name = split or "data"
            qa = self._read(data_spec, name)
        else:
            splits = self.load()
            name, qa = pick_split(splits, split)
        return pack(qa, qa_packer(self.run_preprocessor(paths), self.config)), qa, name, qa.source

    def model_inputs(self, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                     limit: int = 256) -> np.ndarray:
        return self.evaluation_data(paths, info, data_spec, split)[0].token_ids[:limit].astype(np.int32)

    def evaluate(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None,
                 trust_code: bool = False) -> tuple[str, dict]:
        packed, qa, name, source = self.evaluation_data(paths, info, data_spec, split)
        model = load_keras_model(paths.model, trust_code=trust_code)
        result = qa_result(qa, answer_set(model, packed, qa, self.config), packed, info.get("language", "en"))
        result["source"] = source
        with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
            tf.summary.scalar(f"{name}/f1", result["f1"], step=0)
            tf.summary.scalar(f"{name}/exact_match", result["exact_match"], step=0)
        return name, result

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """A raw question and its context -> the best answer (text, score, probability, character offsets), the
        n best, and whether the question was cut. Words, sub-words, windows and decoding run in the SavedModel."""
        packer = qa_packer(self.run_preprocessor(paths), self.config)
        qa = self.config.data.qa
        specs = [tf.TensorSpec((None,), tf.string, name="question"), tf.TensorSpec((None,), tf.string, name="context")]
        packer(["build"], ["build"])

        def answer(question, context):
            packed = packer(question, context)
            logits = model(packed["token_ids"], training=False)  # (N, 2, T)
            candidates = window_candidates(logits, packed["context_position"], packed["context_length"], qa.n_best,
                                           qa.max_answer_tokens)
            best = answers(*candidates, packed, context, qa.n_best)
            return {"answer": best["answers"][:, 0], "score": best["scores"][:, 0],
                    "probability": best["probabilities"][:, 0], "start": best["starts"][:, 0],
                    "end": best["ends"][:, 0], "n_best_answers": best["answers"], "n_best_scores": best["scores"],
                    "n_best_starts": best["starts"], "n_best_ends": best["ends"],
                    "question_cut": packed["question_cut"],
                    "windows": tf.math.bincount(tf.cast(packed["example"], tf.int32), minlength=tf.shape(question)[0],
                                                maxlength=tf.shape(question)[0], dtype=tf.int32)}

        shapes = {"answer": ["batch"], "score": ["batch"], "probability": ["batch"], "start": ["batch"],
                  "end": ["batch"], "n_best_answers": ["batch", "n"], "n_best_scores": ["batch", "n"],
                  "n_best_starts": ["batch", "n"], "n_best_ends": ["batch", "n"], "question_cut": ["batch"],
                  "windows": ["batch"]}
        return Serving(None, specs, [packer.tokenizer], features=answer, feature_shapes=shapes)

    def export_outputs(self, info: dict, serving: Serving) -> tuple[str, dict, dict]:
        return self.export_kind, serving.feature_shapes, {"language": info.get("language", "en"),
                                                          "max_question_tokens": self.config.data.qa.max_question_tokens}


# --- helpers: packing, answering, scores -------------------------------------------------------------

def qa_packer(preprocessor, config) -> QAPacker:
    vocabulary = preprocessor.vocabulary
    unk = vocabulary.index("[UNK]") if "[UNK]" in vocabulary else preprocessor.pad_id
    qa = config.data.qa
    return QAPacker(preprocessor.tokenizer, preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id, unk,
                    config.data.tokenizer.sequence_length, qa.stride, qa.max_question_tokens)


def pack(qa: QASet, packer: QAPacker) -> PackedQuestions:
    """Every window of every question of `qa`, with its targets (the first gold answer)."""
    parts = []
    for first in range(0, len(qa), PACK_BATCH):
        out = packer(qa.questions[first:first + PACK_BATCH], qa.contexts[first:first + PACK_BATCH])
        out = {k: v.numpy() for k, v in out.items()}
        out["example"] = out["example"] + first
        parts.append(out)
    width = max(p["token_begin"].shape[1] for p in parts)
    wide = lambda key: np.concatenate([np.pad(p[key], ((0, 0), (0, width - p[key].shape[1])), constant_values=-1)  # noqa: E731
                                       for p in parts]).astype(np.int32)
    joined = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    packed = PackedQuestions(joined("token_ids").astype(np.int32), None, joined("example").astype(np.int32),
                             joined("window_start").astype(np.int32), joined("context_position").astype(np.int32),
                             joined("context_length").astype(np.int32), wide("token_begin"), wide("token_end"),
                             joined("question_cut"), packer.pad_id)
    packed.targets = answer_targets(qa, packed)
    return packed


def answer_targets(qa: QASet, packed: PackedQuestions) -> np.ndarray:
    """(N, 2): each window's start and end position of its question's first gold answer, (0, 0) ([CLS]) when
    the window does not hold all of it. The answer covers the words its characters touch."""
    targets = np.zeros((len(packed.token_ids), 2), np.int32)
    for n, b in enumerate(packed.example):
        text, start = qa.answers[b][0]
        context = qa.contexts[b]
        first_byte = len(context[:start].encode("utf-8"))
        last_byte = first_byte + len(text.encode("utf-8"))
        real = packed.token_begin[b] >= 0
        begin, end = packed.token_begin[b][real], packed.token_end[b][real]
        first = int(np.searchsorted(end, first_byte, side="right"))  # the first sub-word whose word ends after it
        last = int(np.searchsorted(begin, last_byte, side="left")) - 1  # the last one whose word begins before its end
        lo, hi = packed.window_start[n], packed.window_start[n] + packed.context_length[n]
        if lo <= first <= last < hi:
            offset = packed.context_position[n] - lo
            targets[n] = (first + offset, last + offset)
    return targets


_COMPILED = weakref.WeakKeyDictionary()  # model -> its forward pass as a tf.function


def answer_set(model, packed: PackedQuestions, qa: QASet, config, batch_size: int = WINDOW_BATCH) -> dict:
    """The n best answers of every question of `qa` ({"answers" (B, n), "scores", "starts", "ends"} as NumPy),
    decoded as the exported model decodes them."""
    if model not in _COMPILED:
        _COMPILED[model] = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)
    forward = _COMPILED[model]
    options = config.data.qa
    parts = []
    for first in range(0, len(packed.token_ids), batch_size):
        ids = packed.token_ids[first:first + batch_size]
        longest = int(np.max(np.sum(ids != packed.pad_id, axis=1)))  # the padding past it is not computed
        width = min(ids.shape[1], -(-longest // 8) * 8)
        logits = forward(tf.constant(ids[:, :width]))
        parts.append(window_candidates(logits, tf.constant(packed.context_position[first:first + batch_size]),
                                       tf.constant(packed.context_length[first:first + batch_size]),
                                       options.n_best, options.max_answer_tokens))
    scores, starts, ends = (tf.concat([p[i] for p in parts], axis=0) for i in range(3))
    inputs = {k: tf.constant(v) for k, v in packed.decoding_inputs().items()}
    best = answers(scores, starts, ends, inputs, tf.constant(qa.contexts), options.n_best)
    result = {k: v.numpy() for k, v in best.items()}
    result["answers"] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(result["answers"])
    return result


def qa_result(qa: QASet, predicted: dict, packed: PackedQuestions, language: str) -> dict:
    scores = answer_scores(qa.gold_texts(), list(predicted["answers"][:, 0]), language)
    return {"kind": "qa", "language": language, "windows": len(packed.token_ids),
            "cut_questions": int(packed.question_cut.sum()), **scores}


def format_qa(name: str, result: dict) -> str:
    cut = f"; {result['cut_questions']} question(s) cut to the longest allowed" if result.get("cut_questions") else ""
    metric = "SQuAD v1.1" if result.get("language", "en") == "en" else "CMRC 2018 (character)"
    return (f"{name}: {result['questions']} questions in {result['windows']} windows{cut}\n"
            f"  exact match {result['exact_match']:.4f}   F1 {result['f1']:.4f}   ({metric} evaluation)")


add_report("qa", format_qa)


class AnswerF1(keras.callbacks.Callback):
    """Exact match and F1 on the validation set after each epoch, decoded as `predict` decodes: logged as
    `val_exact_match` and `val_f1` (what `trainer.monitor` and `search` may use), and in TensorBoard."""

    def __init__(self, packed: PackedQuestions, qa: QASet, config, language: str, log_dir=None):
        super().__init__()
        self.packed, self.qa, self.config, self.language = packed, qa, config, language
        self.writer = tf.summary.create_file_writer(str(log_dir / "validation")) if log_dir is not None else None

    def on_epoch_end(self, epoch, logs=None):
        result = qa_result(self.qa, answer_set(self.model, self.packed, self.qa, self.config), self.packed,
                           self.language)
        if logs is not None:
            logs["val_f1"], logs["val_exact_match"] = result["f1"], result["exact_match"]
        if self.writer is not None:
            with self.writer.as_default(step=epoch):
                tf.summary.scalar("epoch_f1", result["f1"])
                tf.summary.scalar("epoch_exact_match", result["exact_match"])


__all__ = ["AnswerF1", "PackedQuestions", "QAData", "QuestionAnswering", "answer_set", "answer_targets", "pack",
           "qa_result"]
