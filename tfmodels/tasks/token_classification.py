"""Token classification: a label a word (named entities; semantic roles of a marked predicate).

    words -> sub-word token ids (`WordPacker`) -> the encoder -> logits a token
          -> each word's logits at its first sub-word -> the best valid tag sequence (`decoding/tags.py`)

A word's first sub-word carries its label; its other sub-words (and [CLS], [SEP], padding) carry no
loss and no weight, and the loss is the mean over words (`mean_with_sample_weight`). Words cut by the
sequence length are counted, reported, and scored as tagged `O`: an entity there is a miss, never
dropped from the metrics. Semantic role labelling is the same model with the predicate marked in the
input by a marker token on each side (see `word_packer.py`): one example a predicate.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from tfmodels.converters.presets import load_backbone, preset_family
from tfmodels.data.order import batches_by_length, training_batches, trim_padding
from tfmodels.data.tag_schemes import OUTSIDE, allowed_transitions
from tfmodels.data.tagging import ReadOptions, TaggedSet, carve_by_sentence, load_tagged
from tfmodels.data.text import TextSet
from tfmodels.data.word_packer import WordPacker, split_words
from tfmodels.decoding.tags import best_valid_tags, word_scores
from tfmodels.errors import ConfigError, DataError
from tfmodels.models import build_token_model
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Serving, TaskData, pick_split, read_one_spec
from tfmodels.tasks.reports import add_report
from tfmodels.tasks.tagging_metrics import entity_scores, format_scores, role_scores
from tfmodels.tasks.text_task import TextTask

MARKERS = ("[PRED]", "[unused0]")  # the predicate's marker: ours, else a BERT vocabulary's first unused token
PACK_BATCH = 1024  # sentences packed at a time


@dataclass
class PackedWords:
    """A tagged set as the model reads it."""

    token_ids: np.ndarray  # (N, T) int32
    targets: np.ndarray  # (N, T) int32: a word's label id at its first sub-word, 0 elsewhere
    weights: np.ndarray  # (N, T) float32: 1 at the first sub-word of each word that fits, else 0
    starts: np.ndarray  # (N, W) int32: each word's first sub-word, -1 when cut (or past the sentence)
    word_counts: np.ndarray  # (N,) int32
    pad_id: int = 0

    @property
    def cut_words(self) -> int:
        return int(sum(int(np.sum(s[:n] < 0)) for s, n in zip(self.starts, self.word_counts)))

    @property
    def cut_sentences(self) -> int:
        return int(sum(bool(np.any(s[:n] < 0)) for s, n in zip(self.starts, self.word_counts)))


@dataclass
class TaggingData(TaskData):
    labels: list[str] = field(default_factory=list)
    packed: dict = field(default_factory=dict)  # {role: PackedWords}


class TokenClassification(TextTask):
    input_name = "text"
    export_kind = "tagger"
    varying_loss_weight = True  # a mean over the words of the batch, however many each replica holds

    # --- reading and preparing ---------------------------------------------------------------------

    def read_options(self) -> ReadOptions:
        t = self.config.data.tagging
        return ReadOptions(t.token_column, t.tag_column, t.scheme, t.learn_scheme)

    def _read(self, spec, role: str) -> TaggedSet:
        return read_one_spec(spec, role, lambda spec, role: load_tagged(spec, role, self.read_options()), "a tagger")

    def load(self) -> dict:
        data = self.config.data
        train = self._read(data.train, "train")
        if data.validation:
            splits = {"train": train, "validation": self._read(data.validation, "validation")}
        else:
            carved = carve_by_sentence(train, data.validation_fraction)  # the same sentences whatever the seed
            splits = {"train": carved[0], "validation": carved[1]}
        if data.test:
            splits["test"] = self._read(data.test, "test")
        for role, tagged in splits.items():
            if tagged.srl != splits["train"].srl:
                raise DataError(f"data.{role} ('{tagged.source}') is {'semantic roles' if tagged.srl else 'tags'} but "
                                f"data.train is {'semantic roles' if train.srl else 'tags'}; give sets of one kind")
            if role != "train":
                check_known_tags(tagged, splits["train"], f"data.{role}")
        if self.config.init.preset:
            self.preset()
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        train = splits["train"]
        text = TextSet([" ".join(words) for words in train.words], None, train.source)
        preprocessor = self.preprocessor(resume_from, text)
        if train.srl and not any(m in preprocessor.vocabulary for m in MARKERS):
            if self.config.init.preset or self.config.init.from_run:
                raise ConfigError(f"semantic roles mark the predicate with {' or '.join(MARKERS)}, which the vocabulary of "
                                  f"{self.config.init.preset or self.config.init.from_run} lacks")
            preprocessor.vocabulary.append(MARKERS[0])  # a fresh vocabulary: the marker gets an id of its own
            preprocessor = type(preprocessor)(preprocessor.vocabulary, self.config.data.tokenizer)
        labels = label_list(train)
        packer = word_packer(preprocessor, train.srl)
        packed = {role: pack(tagged, packer, labels) for role, tagged in splits.items()}
        return TaggingData(splits, len(labels), preprocessor, train_examples=len(train), labels=labels, packed=packed)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        train = data.packed["train"]
        if len(train.token_ids) < global_batch:
            raise DataError(f"the training set ('{data.splits['train'].source}') has {len(train.token_ids)} examples, "
                            f"fewer than one batch of {global_batch}; lower trainer.batch_size")
        arrays = (train.targets, train.weights)
        pad = data.preprocessor.pad_id
        if self.config.data.batch_by_length:
            train_ds = batches_by_length(train.token_ids, arrays, pad, global_batch, seed, epochs, first_epoch)
        else:
            train_ds = training_batches((train.token_ids, *arrays), global_batch, seed, epochs, first_epoch)
        evaluation = {}
        for role, packed in data.packed.items():
            if role == "train":
                continue
            ds = tf.data.Dataset.from_tensor_slices((packed.token_ids, packed.targets, packed.weights)).batch(global_batch)
            evaluation[role] = trim_padding(ds, pad) if self.config.data.batch_by_length else ds
        return train_ds.prefetch(tf.data.AUTOTUNE), evaluation

    # --- the model and its training ------------------------------------------------------------------

    def build_model(self, data: TaskData):
        length = self.config.data.tokenizer.sequence_length
        backbone = None
        if self.config.init.preset:
            backbone = load_backbone(self.preset(), data.preprocessor.vocabulary_size, sequence_length=length)
        return build_token_model(self.config.model, data.preprocessor.vocabulary_size, length, data.num_classes,
                                 padding_id=data.preprocessor.pad_id, backbone=backbone,
                                 separator_id=data.preprocessor.sep_id)

    def compile_args(self) -> dict:
        """Cross-entropy per word (the weights pick each word's first sub-word), and word accuracy."""
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="word_accuracy")]}

    def split_metrics(self, model, data: TaskData, role: str) -> dict:
        """Entity (or argument) precision, recall and F1, overall and by type, decoded as predict decodes."""
        packed, tagged = data.packed[role], data.splits[role]
        predicted = predict_tags(model, packed, data.labels, self.decoding_table(data.labels))
        result = tagging_result(tagged, predicted, packed)
        return {key: result[key] for key in ("precision", "recall", "f1", "per_type", "cut_words")}

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        if "validation" not in data.packed:
            return []
        return [SpanF1(data.packed["validation"], data.splits["validation"], data.labels, self.decoding_table(data.labels),
                       data.splits["train"].srl, global_batch, log_dir)]

    def decoding_table(self, labels: list[str]):
        """The legal transitions of the learnt scheme (None: each word's most likely label)."""
        if not self.config.data.tagging.constrained or not any(label[:2] in ("B-", "S-") for label in labels):
            return None
        return allowed_transitions(labels, self.config.data.tagging.learn_scheme)

    def data_info(self, data: TaskData) -> dict:
        srl = data.splits["train"].srl
        return {
            "task": "token_classification",
            "input": {"name": self.input_name, "shape": [], "dtype": "string", "words": self.config.data.tagging.words,
                      **({"predicate": "predicate"} if srl else {})},
            "token_ids": {"sequence_length": self.config.data.tokenizer.sequence_length,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            **({"preset": {"name": self.config.init.preset, "family": preset_family(self.preset())}}
               if self.config.init.preset else {}),
            "num_classes": data.num_classes,
            "class_names": data.labels,
            "scheme": "roles" if srl else self.config.data.tagging.learn_scheme,
            "examples": {role: len(tagged) for role, tagged in data.splits.items()},
            "cut_words": {role: packed.cut_words for role, packed in data.packed.items()},
            "sources": {role: tagged.source for role, tagged in data.splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(packed words, the tagged set, name, source) of a split or a data spec."""
        if data_spec:
            name = split or "data"
            tagged = self._read(data_spec, name)
            check_known_tags(tagged, None, f"evaluation data '{name}'", info["class_names"])
        else:
            splits = self.load()
            name, tagged = pick_split(splits, split)
        packer = word_packer(self.run_preprocessor(paths), tagged.srl)
        return pack(tagged, packer, info["class_names"]), tagged, name, tagged.source

    def model_inputs(self, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                     limit: int = 256) -> np.ndarray:
        packed = self.evaluation_data(paths, info, data_spec, split)[0]
        return packed.token_ids[:limit].astype(np.int32)

    def evaluate(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None,
                 trust_code: bool = False) -> tuple[str, dict]:
        packed, tagged, name, source = self.evaluation_data(paths, info, data_spec, split)
        model = load_keras_model(paths.model, trust_code=trust_code)
        labels = info["class_names"]
        predicted = predict_tags(model, packed, labels, self.decoding_table(labels))
        result = tagging_result(tagged, predicted, packed)
        result["source"] = source
        with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
            tf.summary.scalar(f"{name}/f1", result["f1"], step=0)
            for kind, row in result["per_type"].items():
                tf.summary.scalar(f"{name}/f1/{kind}", row["f1"], step=0)
        return name, result

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """A raw sentence (and, for semantic roles, the predicate's word index) -> its words and their tags.
        The words are split as training read them (`data.tagging.words`); the tokenizer, the packing and
        the constrained decoding run inside the SavedModel."""
        srl = "predicate" in info["input"]
        packer = word_packer(self.run_preprocessor(paths), srl)
        labels = info["class_names"]
        names = tf.constant(labels)
        allowed = self.decoding_table(labels)
        outside = labels.index(OUTSIDE) if OUTSIDE in labels else 0
        mode = info["input"].get("words", "whitespace")
        specs = [tf.TensorSpec((None,), tf.string, name=self.input_name)]
        if srl:
            specs.append(tf.TensorSpec((None,), tf.int32, name="predicate"))
        packer(tf.ragged.constant([["build"]]), tf.constant([0]) if srl else None)

        def tag(text, predicate=None):
            words = split_words(text, mode)  # (B, W) ragged
            token_ids, starts = packer(words, predicate)  # (B, T), (B, W)
            scores = word_scores(model(token_ids, training=False), starts)  # (B, W, L)
            cut = starts < 0  # cut words read as certain O
            scores = tf.where(cut[..., None], tf.math.log(tf.one_hot(outside, len(labels)) + 1e-9), scores)
            counts = tf.cast(words.row_lengths(), tf.int32)  # (B,)
            ids = best_valid_tags(scores, counts, allowed)  # (B, W)
            present = tf.sequence_mask(counts, tf.shape(ids)[1])
            return {"words": words.to_tensor(default_value=""),
                    "tags": tf.where(present, tf.gather(names, ids), ""),
                    "tag_id": tf.where(present, ids, -1), "word_count": counts,
                    "cut_words": tf.reduce_sum(tf.cast(cut & present, tf.int32), axis=1)}

        fn = (lambda text, predicate: tag(text, predicate)) if srl else (lambda text: tag(text))
        return Serving(None, specs if srl else specs[0], [packer.tokenizer, packer.packer], features=fn,
                       feature_shapes={"words": ["batch", "words"], "tags": ["batch", "words"],
                                       "tag_id": ["batch", "words"], "word_count": ["batch"],
                                       "cut_words": ["batch"]})

    def export_outputs(self, info: dict, serving: Serving) -> tuple[str, dict, dict]:
        return self.export_kind, serving.feature_shapes, {"class_names": info["class_names"], "scheme": info["scheme"]}


# --- helpers: labels, packing, prediction, scores ---------------------------------------------------

def label_list(train: TaggedSet) -> list[str]:
    """The training set's labels: O first, then by type and prefix."""
    tags = train.tag_set() | {OUTSIDE}
    return [OUTSIDE] + sorted(tags - {OUTSIDE}, key=lambda t: (t.partition("-")[2], t))


def check_known_tags(tagged: TaggedSet, train: TaggedSet | None, where: str, known: list[str] | None = None) -> None:
    """Every tag of `tagged` is one training saw: else one line naming it, its count and the known ones."""
    known_set = set(known) if known is not None else train.tag_set() | {OUTSIDE}
    unknown = sorted(tagged.tag_set() - known_set)
    if unknown:
        count = sum(tag == unknown[0] for tags in tagged.tags for tag in tags)
        raise DataError(f"{where} ('{tagged.source}'): tag '{unknown[0]}' ({count} word(s)"
                        f"{f', and {len(unknown) - 1} other unseen tag(s)' if len(unknown) > 1 else ''}) never appears "
                        f"in training, so the model cannot predict it; the known tags: {', '.join(sorted(known_set))}")


def word_packer(preprocessor, srl: bool) -> WordPacker:
    vocabulary = preprocessor.vocabulary
    marker = next((vocabulary.index(m) for m in MARKERS if m in vocabulary), None) if srl else None
    unk = vocabulary.index("[UNK]") if "[UNK]" in vocabulary else preprocessor.pad_id
    return WordPacker(preprocessor.tokenizer, preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id, unk,
                      preprocessor.sequence_length, marker)


def pack(tagged: TaggedSet, packer: WordPacker, labels: list[str]) -> PackedWords:
    """Token ids, per-token targets and weights, and word starts of every example of `tagged`."""
    index = {label: i for i, label in enumerate(labels)}
    ids, starts = [], []
    for first in range(0, len(tagged), PACK_BATCH):
        chunk = tagged.words[first:first + PACK_BATCH]
        words = tf.RaggedTensor.from_row_lengths([w for sentence in chunk for w in sentence],
                                                 [len(sentence) for sentence in chunk])
        predicates = tf.constant(tagged.predicates[first:first + PACK_BATCH], tf.int32) if tagged.srl else None
        chunk_ids, chunk_starts = packer(words, predicates)
        ids.append(chunk_ids.numpy())
        starts.append(chunk_starts.numpy())
    width = max(s.shape[1] for s in starts)
    starts = np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=-1) for s in starts])
    ids = np.concatenate(ids).astype(np.int32)
    targets, weights = np.zeros_like(ids), np.zeros(ids.shape, np.float32)
    counts = np.array([len(w) for w in tagged.words], np.int32)
    for i, tags in enumerate(tagged.tags):
        s = starts[i, :len(tags)]
        kept = s >= 0
        targets[i, s[kept]] = [index.get(t, 0) for t, k in zip(tags, kept) if k]
        weights[i, s[kept]] = 1.0
    return PackedWords(ids, targets, weights, starts, counts, packer.pad_id)


_COMPILED = weakref.WeakKeyDictionary()  # model -> its forward pass as a tf.function (one trace a batch width)


def predict_tags(model, packed: PackedWords, labels: list[str], allowed, batch_size: int = 128) -> list[list[str]]:
    """The decoded tags of every example (cut words: O)."""
    if model not in _COMPILED:
        _COMPILED[model] = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)
    forward = _COMPILED[model]
    outside = labels.index(OUTSIDE) if OUTSIDE in labels else 0
    predicted = []
    for first in range(0, len(packed.token_ids), batch_size):
        ids = packed.token_ids[first:first + batch_size]
        starts = packed.starts[first:first + batch_size]
        counts = packed.word_counts[first:first + batch_size]
        longest = int(np.max(np.sum(ids != packed.pad_id, axis=1)))  # the padding past it is not computed
        width = min(ids.shape[1], -(-longest // 8) * 8)
        logits = forward(tf.constant(ids[:, :width]))
        scores = word_scores(logits, tf.constant(starts))
        cut = tf.constant(starts < 0)[..., None]
        scores = tf.where(cut, tf.math.log(tf.one_hot(outside, len(labels)) + 1e-9), scores)
        tag_ids = best_valid_tags(scores, tf.constant(counts), allowed).numpy()
        predicted += [[labels[t] for t in row[:n]] for row, n in zip(tag_ids, counts)]
    return predicted


def tagging_result(tagged: TaggedSet, predicted: list[list[str]], packed: PackedWords) -> dict:
    """Entity (or argument) scores, with the count of words cut by the sequence length."""
    scores = (role_scores if tagged.srl else entity_scores)(tagged.tags, predicted)
    return {"kind": "tagging", "unit": "argument" if tagged.srl else "entity", "examples": len(tagged),
            "words": int(packed.word_counts.sum()), "cut_words": packed.cut_words,
            "cut_sentences": packed.cut_sentences, **scores}


def format_tagging(name: str, result: dict) -> str:
    cut = (f"; {result['cut_words']} word(s) of {result['cut_sentences']} example(s) beyond the sequence length, "
           "scored as O" if result.get("cut_words") else "")
    header = f"{name}: {result['examples']} examples, {result['words']} words{cut}"
    return header + "\n" + format_scores(name, result, result.get("unit", "entity"))


add_report("tagging", format_tagging)


class SpanF1(keras.callbacks.Callback):
    """Entity (or argument) F1 on the validation set after each epoch, decoded as `predict` decodes:
    logged as `val_f1` (what `trainer.monitor` and `search` may use), and per type in TensorBoard."""

    def __init__(self, packed: PackedWords, tagged: TaggedSet, labels: list[str], allowed, srl: bool,
                 batch_size: int, log_dir=None):
        super().__init__()
        self.packed, self.tagged, self.labels, self.allowed = packed, tagged, labels, allowed
        self.srl, self.batch_size = srl, max(32, batch_size)
        self.writer = tf.summary.create_file_writer(str(log_dir / "validation")) if log_dir is not None else None

    def on_epoch_end(self, epoch, logs=None):
        predicted = predict_tags(self.model, self.packed, self.labels, self.allowed, self.batch_size)
        result = tagging_result(self.tagged, predicted, self.packed)
        if logs is not None:
            logs["val_f1"] = result["f1"]
        if self.writer is not None:
            with self.writer.as_default(step=epoch):
                tf.summary.scalar("epoch_f1", result["f1"])
                for kind, row in result["per_type"].items():
                    tf.summary.scalar(f"f1_by_type/{kind}", row["f1"])


__all__ = ["PackedWords", "SpanF1", "TaggingData", "TokenClassification", "check_known_tags",
           "label_list", "pack", "predict_tags", "tagging_result"]
