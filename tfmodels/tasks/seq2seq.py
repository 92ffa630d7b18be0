"""Sequence to sequence: an encoder-decoder Transformer writes a target text from a source text
(translation: Multi30k German -> English; summarization: AESLC email -> subject line).

    (source, target) pairs                                  (`data/parallel.py`)
      -> byte-level BPE ids, one vocabulary for both sides or one each; source + [end];
         decoder input [start] + target, labels target + [end]; longer ones cut and counted
      -> `models/seq2seq.py` (teacher forcing: every target position at once)
      -> label-smoothed cross-entropy per target token
    decoding: beam search with GNMT's length penalty, greedy = beam 1 (`decoding/beam_search.py`)
    scores: sacreBLEU and rouge-score on the decoded text (`s2s_metrics.py`)

`<|endoftext|>` (the BPE's one special token) is both the start token the decoder reads first and the
end token it writes last; padding is one id past the vocabulary. After each epoch the validation set
(or its first `data.seq2seq.epoch_examples`) is decoded greedily: val_bleu, val_rouge1/2/L; the
final metrics decode it with the configured beam too. The export's `translate` takes strings and a
beam size and returns strings; tokenization, decoding and detokenization run inside it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from tfmodels.data.examples import train_and_validation
from tfmodels.data.lm_tokenizers import BytePairCodec, read_codec
from tfmodels.data.order import LENGTH_MULTIPLE, epoch_order, length_grouped_order
from tfmodels.data.parallel import PairSet, load_pairs
from tfmodels.data.tokenizers import sample_texts
from tfmodels.decoding.beam_search import beam_search, strip_after_end
from tfmodels.errors import DataError
from tfmodels.models import build_seq2seq
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Serving, Task, TaskData, pick_split, read_one_spec
from tfmodels.tasks.reports import add_report
from tfmodels.tasks.s2s_metrics import text_scores

DECODE_BATCH = 64  # sources decoded at a time
SHOWN_EXAMPLES = 4  # sources, references and outputs written to TensorBoard's text tab


@dataclass
class PackedPairs:
    """Pairs as the model reads them: padded ids, and how many were cut to the model's lengths."""

    source_ids: np.ndarray  # (N, S) int32, source + [end], padded
    target_in: np.ndarray  # (N, T) int32, [start] + target, padded
    target_out: np.ndarray  # (N, T) int32, target + [end], padded
    cut_sources: int = 0
    cut_targets: int = 0


@dataclass
class Seq2SeqData(TaskData):
    packed: dict = field(default_factory=dict)  # {role: PackedPairs}
    source_codec: BytePairCodec | None = None  # the same object as `preprocessor` (the target's) when shared


class Codecs:
    """The run's tokenizers: source and target (one object when the vocabulary is shared), with the ids of
    the special tokens: start = end = `<|endoftext|>`, padding one past the larger vocabulary."""

    def __init__(self, source: BytePairCodec, target: BytePairCodec):
        self.source, self.target = source, target
        self.end_id = self.start_id = target.end_of_text
        self.source_end_id = source.end_of_text
        self.pad_id = max(source.vocabulary_size, target.vocabulary_size)

    @property
    def vocabulary_sizes(self) -> tuple[int, int]:
        return self.pad_id + 1, self.pad_id + 1  # ids 0 .. pad on each side (the smaller side leaves some unused)

    def encode(self, codec: BytePairCodec, texts: list[str], batch: int = 2000) -> list[np.ndarray]:
        out = []
        for first in range(0, len(texts), batch):
            out.extend(codec.encode_batch(texts[first:first + batch]))
        return out

    def pack(self, pairs: PairSet, max_source: int, max_target: int) -> PackedPairs:
        """source + [end] (cut to max_source), [start] + target and target + [end] (cut to max_target)."""
        sources = self.encode(self.source, pairs.sources)
        targets = self.encode(self.target, pairs.targets)
        source_ids = np.full((len(pairs), max_source), self.pad_id, np.int32)
        target_in = np.full((len(pairs), max_target), self.pad_id, np.int32)
        target_out = np.full((len(pairs), max_target), self.pad_id, np.int32)
        cut_sources = cut_targets = 0
        for i, (s, t) in enumerate(zip(sources, targets)):
            cut_sources += len(s) > max_source - 1
            cut_targets += len(t) > max_target - 1
            s, t = s[:max_source - 1], t[:max_target - 1]
            source_ids[i, :len(s) + 1] = np.append(s, self.source_end_id)
            target_in[i, :len(t) + 1] = np.append(self.start_id, t)
            target_out[i, :len(t) + 1] = np.append(t, self.end_id)
        return PackedPairs(source_ids, target_in, target_out, cut_sources, cut_targets)

    def decode(self, rows) -> list[str]:
        """Decoded token ids (a list of id lists) -> texts."""
        if not len(rows):
            return []
        texts = self.target.tokenizer.detokenize(tf.ragged.constant([list(map(int, r)) for r in rows], dtype=tf.int32))
        texts = texts.numpy() if hasattr(texts, "numpy") else texts
        return [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in texts]

    def save(self, paths: RunPaths) -> None:
        self.target.save(paths.root)
        if self.source is not self.target:
            paths.source_bpe.parent.mkdir(exist_ok=True)
            self.source.save(paths.source_bpe.parent)

    @classmethod
    def read(cls, paths: RunPaths) -> "Codecs":
        target = read_codec(paths.root)
        source = read_codec(paths.source_bpe.parent) if paths.source_bpe.is_file() else target
        return cls(source, target)


class SequenceToSequence(Task):
    input_name = "source"
    export_kind = "seq2seq"
    varying_loss_weight = True  # a mean over the target tokens of the batch, however many each replica holds

    # --- reading and preparing ---------------------------------------------------------------------

    def _read(self, spec, role: str) -> PairSet:
        return read_one_spec(spec, role, load_pairs, "an encoder-decoder")

    def load(self) -> dict:
        data = self.config.data
        train, validation = train_and_validation(self._read, data.train, data.validation, data.validation_fraction)
        splits = {"train": train, "validation": validation}
        if data.test:
            splits["test"] = self._read(data.test, "test")
        return splits

    def codecs(self, resume_from: RunPaths | None, train: PairSet) -> Codecs:
        """The resumed run's tokenizers, else learnt from (a seeded sample of) the training pairs."""
        for paths in (resume_from, RunPaths(self.config.init.from_run) if self.config.init.from_run else None):
            if paths is not None and paths.bpe.is_file():
                return Codecs.read(paths)
        t, seed = self.config.data.tokenizer, self.config.runtime.seed
        sources, targets = (sample_texts(texts, t.vocabulary_sample, seed) for texts in (train.sources, train.targets))
        if self.config.model.seq2seq.shared_vocabulary:
            shared = BytePairCodec.learn(sources + targets, t.vocabulary_size)
            return Codecs(shared, shared)
        return Codecs(BytePairCodec.learn(sources, t.vocabulary_size), BytePairCodec.learn(targets, t.vocabulary_size))

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        codecs = self.codecs(resume_from, splits["train"])
        s2s = self.config.data.seq2seq
        packed = {role: codecs.pack(pairs, s2s.max_source_tokens, s2s.max_target_tokens) for role, pairs in splits.items()}
        return Seq2SeqData(splits, 0, codecs, train_examples=len(splits["train"]), packed=packed,
                           source_codec=codecs.source)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        train, pad = data.packed["train"], data.preprocessor.pad_id
        if len(train.source_ids) < global_batch:
            raise DataError(f"the training set ('{data.splits['train'].source}') has {len(train.source_ids)} pairs, "
                            f"fewer than one batch of {global_batch}; lower trainer.batch_size")
        by_length = self.config.data.batch_by_length
        train_ds = pair_batches(train, pad, global_batch, seed, epochs, first_epoch, by_length)
        evaluation = {role: evaluation_batches(packed, pad, global_batch, by_length)
                      for role, packed in data.packed.items() if role != "train"}
        return train_ds.prefetch(tf.data.AUTOTUNE), evaluation

    # --- the model and its training ------------------------------------------------------------------

    def build_model(self, data: TaskData):
        s2s, codecs = self.config.data.seq2seq, data.preprocessor
        return build_seq2seq(self.config.model, codecs.vocabulary_sizes, (s2s.max_source_tokens, s2s.max_target_tokens),
                             codecs.pad_id)

    def compile_args(self) -> dict:
        """Label-smoothed cross-entropy, a mean over the target tokens (padding weighs 0), and token accuracy."""
        smoothing = self.config.model.seq2seq.label_smoothing
        return {"loss": SmoothedCrossEntropy(smoothing),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]}

    def split_metrics(self, model, data: TaskData, role: str) -> dict:
        """BLEU and ROUGE of the decoded split: with the configured beam, and greedy (beam 1) beside it."""
        s2s = self.config.data.seq2seq
        pairs, packed = data.splits[role], data.packed[role]
        result = scores_of(model, data.preprocessor, packed, pairs, s2s.beam_size, s2s.length_penalty)
        if s2s.beam_size != 1:
            greedy = scores_of(model, data.preprocessor, packed, pairs, 1, s2s.length_penalty)
            result.update({f"greedy_{k}": greedy[k] for k in ("bleu", "rouge1", "rouge2", "rougeL")})
        result.pop("outputs")
        result.pop("kind")
        return result

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        if "validation" not in data.packed:
            return []
        return [DecodedScores(data.packed["validation"], data.splits["validation"], data.preprocessor,
                              self.config.data.seq2seq, log_dir)]

    def save_assets(self, data: TaskData, paths: RunPaths, model=None) -> None:
        data.preprocessor.save(paths)

    def data_info(self, data: TaskData) -> dict:
        codecs, s2s = data.preprocessor, self.config.data.seq2seq
        return {
            "task": "seq2seq",
            "input": {"name": self.input_name, "shape": [], "dtype": "string"},
            "token_ids": {"tokenizer": "bpe", "shared_vocabulary": codecs.source is codecs.target,
                          "source_vocabulary_size": codecs.source.vocabulary_size,
                          "target_vocabulary_size": codecs.target.vocabulary_size, "pad_id": codecs.pad_id,
                          "max_source_tokens": s2s.max_source_tokens, "max_target_tokens": s2s.max_target_tokens},
            "fields": list(data.splits["train"].fields),
            "examples": {role: len(s) for role, s in data.splits.items()},
            "cut_sources": {role: p.cut_sources for role, p in data.packed.items()},
            "cut_targets": {role: p.cut_targets for role, p in data.packed.items()},
            "target_tokens": {role: int(np.sum(p.target_out != codecs.pad_id)) for role, p in data.packed.items()},
            "sources": {role: s.source for role, s in data.splits.items()},
            "decoding": {"beam_size": s2s.beam_size, "length_penalty": s2s.length_penalty},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        if data_spec:
            name, pairs = split or "data", self._read(data_spec, split or "data")
        else:
            name, pairs = pick_split(self.load(), split)
        codecs, s2s = Codecs.read(paths), self.config.data.seq2seq
        return codecs.pack(pairs, s2s.max_source_tokens, s2s.max_target_tokens), pairs, name, codecs

    def model_inputs(self, paths: RunPaths, info: dict, data_spec: str | None = None, split: str = "train",
                     limit: int = 256):
        packed = self.evaluation_data(paths, info, data_spec, split)[0]
        return {"source_ids": packed.source_ids[:limit], "target_ids": packed.target_in[:limit]}

    def evaluate(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None,
                 trust_code: bool = False, beam_size: int | None = None) -> tuple[str, dict]:
        packed, pairs, name, codecs = self.evaluation_data(paths, info, data_spec, split)
        s2s = self.config.data.seq2seq
        model = load_keras_model(paths.model, trust_code=trust_code)
        beam = s2s.beam_size if beam_size is None else beam_size
        result = scores_of(model, codecs, packed, pairs, beam, s2s.length_penalty)
        result.update(source=pairs.source, beam_size=beam, cut_sources=packed.cut_sources)
        outputs = result.pop("outputs")
        with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
            for key in ("bleu", "rouge1", "rouge2", "rougeL"):
                tf.summary.scalar(f"{name}/{key}", result[key], step=0)
            tf.summary.text(f"{name}/examples", examples_table(pairs, outputs), step=0)
        return name, result

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """`translate` (also `serving_default`): source strings (B,) and a beam size -> the outputs as
        strings, their log-probabilities, and whether the source was cut to the model's length."""
        codecs, s2s = Codecs.read(paths), self.config.data.seq2seq
        translate = graph_translate(model, codecs, s2s.max_source_tokens, s2s.max_target_tokens, s2s.length_penalty)
        specs = [tf.TensorSpec((None,), tf.string, name="source"), tf.TensorSpec((), tf.int32, name="beam_size")]
        resources = codecs.target.graph_resources()
        if codecs.source is not codecs.target:
            resources += codecs.source.graph_resources()
        shapes = {"translation": ["batch"], "score": ["batch"], "source_cut": ["batch"], "source_tokens": ["batch"]}
        return Serving(None, specs, resources, features=translate, feature_shapes=shapes,
                       signatures={"translate": (translate, specs)})

    def export_outputs(self, info: dict, serving: Serving) -> tuple[str, dict, dict]:
        s2s = self.config.data.seq2seq
        return self.export_kind, serving.feature_shapes, {"beam_size": s2s.beam_size,
                                                          "max_source_tokens": s2s.max_source_tokens}


# --- helpers: batches, loss, decoding, scores ----------------------------------------------------------

def _width(lengths, cap: int):
    width = tf.reduce_max(lengths)
    return tf.minimum((width + LENGTH_MULTIPLE - 1) // LENGTH_MULTIPLE * LENGTH_MULTIPLE, cap)


def _batch(source_ids, target_in, target_out, pad: int, trim: bool):
    """(inputs, labels, weights) of a batch; `trim`: cut to its longest source and target (rounded up to
    LENGTH_MULTIPLE), else every pair at the model's full lengths (static shapes, as a TPU needs)."""
    if trim:
        s = _width(tf.reduce_sum(tf.cast(tf.not_equal(source_ids, pad), tf.int32), axis=1), tf.shape(source_ids)[1])
        t = _width(tf.reduce_sum(tf.cast(tf.not_equal(target_out, pad), tf.int32), axis=1), tf.shape(target_out)[1])
        source_ids, target_in, target_out = source_ids[:, :s], target_in[:, :t], target_out[:, :t]
    return ({"source_ids": source_ids, "target_ids": target_in}, target_out,
            tf.cast(tf.not_equal(target_out, pad), tf.float32))


def pair_batches(packed: PackedPairs, pad: int, global_batch: int, seed: int, epochs: int,
                 first_epoch: int = 0, by_length: bool = True) -> tf.data.Dataset:
    """Full training batches drawn from (seed, epoch) alone, so a resumed run sees the batches an
    uninterrupted one does: `by_length` (data.batch_by_length), pairs of similar source + target length
    together (`length_grouped_order`), each batch cut to its longest; else the epoch's permutation
    (`epoch_order`) at full length."""
    lengths = np.sum(packed.source_ids != pad, axis=1) + np.sum(packed.target_out != pad, axis=1)
    steps = len(lengths) // global_batch
    draw = (lambda e: length_grouped_order(lengths, global_batch, seed, e)) if by_length else \
        (lambda e: epoch_order(len(lengths), seed, e)[:steps * global_batch])
    order = np.concatenate([draw(e) for e in range(first_epoch, epochs)]) if epochs > first_epoch \
        else np.zeros((0,), np.int64)
    arrays = [tf.constant(a) for a in (packed.source_ids, packed.target_in, packed.target_out)]
    batches = tf.data.Dataset.from_tensor_slices(order.reshape(-1, global_batch)).map(
        lambda i: _batch(*[tf.gather(a, i) for a in arrays], pad, by_length), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    return batches.apply(tf.data.experimental.assert_cardinality(max(0, epochs - first_epoch) * steps))


def evaluation_batches(packed: PackedPairs, pad: int, global_batch: int, trim: bool = True) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((packed.source_ids, packed.target_in, packed.target_out))
    return ds.batch(global_batch).map(lambda s, i, o: _batch(s, i, o, pad, trim))


def smoothed_cross_entropy(labels, logits, smoothing=0.1):
    """Per-token cross-entropy against (1 - eps) on the label and eps spread evenly over the vocabulary
    (Szegedy et al. 2016; the paper's eps_ls = 0.1): labels (B, T), logits (B, T, V) -> (B, T)."""
    log_p = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (B, T, V)
    nll = -tf.gather(log_p, tf.cast(labels, tf.int32), batch_dims=2)  # (B, T)
    uniform = -tf.reduce_mean(log_p, axis=-1)  # (B, T)
    return (1.0 - smoothing) * nll + smoothing * uniform


class SmoothedCrossEntropy(keras.losses.Loss):
    """`smoothed_cross_entropy`, reduced as the mean over the weighted (non-padding) tokens."""

    def __init__(self, smoothing=0.1, name="smoothed_cross_entropy", **kwargs):
        super().__init__(name=name, reduction="mean_with_sample_weight", **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        return smoothed_cross_entropy(y_true, y_pred, self.smoothing)

    def get_config(self):
        return {"smoothing": self.smoothing, "name": self.name}


_COMPILED = weakref.WeakKeyDictionary()  # model -> {(max_length, alpha, start, end): beam search as a tf.function}


def decode_ids(model, codecs: Codecs, source_ids: np.ndarray, beam_size: int, length_penalty: float,
               batch_size: int = DECODE_BATCH) -> list[list[int]]:
    """The decoded target ids of every source (N, S) (up to the end token, which is left out)."""
    key = (model.target_length, float(length_penalty), codecs.start_id, codecs.end_id)
    functions = _COMPILED.setdefault(model, {})
    if key not in functions:
        functions[key] = tf.function(
            lambda ids, k: beam_search(model, ids, k, key[0], key[2], key[3], alpha=key[1])[0], reduce_retracing=True)
    search = functions[key]
    out = []
    for first in range(0, len(source_ids), batch_size):
        ids = source_ids[first:first + batch_size]
        width = int(np.max(np.sum(ids != codecs.pad_id, axis=1)))
        width = min(ids.shape[1], -(-width // LENGTH_MULTIPLE) * LENGTH_MULTIPLE)
        tokens = search(tf.constant(ids[:, :width]), tf.constant(beam_size, tf.int32))
        out.extend(strip_after_end(tokens, codecs.end_id, codecs.pad_id).to_list())
    return out


def scores_of(model, codecs: Codecs, packed: PackedPairs, pairs: PairSet, beam_size: int, length_penalty: float,
              limit: int = 0) -> dict:
    """BLEU and ROUGE of the decoded sources against the targets (the first `limit` pairs; 0: all)."""
    n = len(pairs) if not limit else min(limit, len(pairs))
    outputs = codecs.decode(decode_ids(model, codecs, packed.source_ids[:n], beam_size, length_penalty))
    return {"kind": "seq2seq", "examples": n, **text_scores(outputs, pairs.targets[:n]), "outputs": outputs}


def examples_table(pairs: PairSet, outputs: list[str], count: int = SHOWN_EXAMPLES) -> str:
    """A Markdown table of the first sources, references and outputs (TensorBoard's text tab)."""
    clean = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    rows = [f"| {clean(s)} | {clean(t)} | {clean(o)} |" for s, t, o in
            zip(pairs.sources[:count], pairs.targets[:count], outputs[:count])]
    return "\n".join([f"| {pairs.fields[0]} | reference ({pairs.fields[1]}) | output |", "|---|---|---|", *rows])


def graph_translate(model, codecs: Codecs, max_source: int, max_target: int, length_penalty: float):
    """The export's translate(source (B,) strings, beam_size) -> {translation, score (the log-probability),
    source_cut, source_tokens (before cutting)}, in TF ops."""
    pad, end = codecs.pad_id, codecs.source_end_id

    def translate(source, beam_size):
        ids = tf.cast(codecs.source.tokenizer(source), tf.int32)  # ragged (B, None)
        cut = ids.row_lengths() > max_source - 1
        lengths = ids.row_lengths()
        ids = tf.concat([ids[:, :max_source - 1], tf.fill([ids.nrows(), 1], end)], axis=1)  # ragged, + [end]
        dense = ids.to_tensor(default_value=pad)  # (B, S)
        checks = [tf.debugging.assert_positive(beam_size, message="beam_size must be at least 1")]
        with tf.control_dependencies(checks):
            tokens, scores = beam_search(model, dense, beam_size, max_target, codecs.start_id, codecs.end_id,
                                         alpha=length_penalty)
        texts = codecs.target.tokenizer.detokenize(strip_after_end(tokens, codecs.end_id, pad))
        return {"translation": texts, "score": scores, "source_cut": cut, "source_tokens": tf.cast(lengths, tf.int32)}

    return tf.function(translate, reduce_retracing=True)  # keras-hub's tokenizers return lists when run eagerly


def format_seq2seq(name: str, result: dict) -> str:
    beam = f" (beam {result['beam_size']})" if "beam_size" in result else ""
    cut = f"; {result['cut_sources']} source(s) cut to the model's length" if result.get("cut_sources") else ""
    return (f"{name}: {result['examples']} pairs decoded{beam}{cut}\n"
            f"  BLEU {result['bleu']:.2f}   ROUGE-1 {result['rouge1']:.2f}   ROUGE-2 {result['rouge2']:.2f}   "
            f"ROUGE-L {result['rougeL']:.2f}   (sacreBLEU 13a; rouge-score F, stemmed)")


add_report("seq2seq", format_seq2seq)


class DecodedScores(keras.callbacks.Callback):
    """After each epoch: the validation sources decoded greedily, BLEU and ROUGE logged as `val_bleu`,
    `val_rouge1`, `val_rouge2`, `val_rougeL` (what `trainer.monitor` and `search` may use), in
    TensorBoard's scalars, with a few sources, references and outputs in its text tab."""

    def __init__(self, packed: PackedPairs, pairs: PairSet, codecs: Codecs, options, log_dir=None):
        super().__init__()
        self.packed, self.pairs, self.codecs, self.options = packed, pairs, codecs, options
        self.writer = tf.summary.create_file_writer(str(log_dir / "validation")) if log_dir is not None else None

    def on_epoch_end(self, epoch, logs=None):
        result = scores_of(self.model, self.codecs, self.packed, self.pairs, 1, self.options.length_penalty,
                           limit=self.options.epoch_examples)
        if logs is not None:
            for key in ("bleu", "rouge1", "rouge2", "rougeL"):
                logs[f"val_{key}"] = result[key]
        if self.writer is not None:
            with self.writer.as_default(step=epoch):
                for key in ("bleu", "rouge1", "rouge2", "rougeL"):
                    tf.summary.scalar(f"epoch_{key}", result[key])
                tf.summary.text("examples", examples_table(self.pairs, result["outputs"]))


__all__ = ["Codecs", "DecodedScores", "PackedPairs", "SequenceToSequence", "decode_ids", "graph_translate",
           "pair_batches", "scores_of", "smoothed_cross_entropy"]
