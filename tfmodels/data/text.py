"""Labelled text from a data spec, read and checked up front.

Every source gives a `TextSet`: the texts, integer labels (None for a plain corpus) and, where the
source names them, the class names. Tokenization happens later, in the tf.data pipeline.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass, field

import numpy as np

from tfmodels.config import TextTableOptions
from tfmodels.data.examples import assign_class_ids
from tfmodels.data.files import class_files, decode_utf8, existing_file, read_bytes
from tfmodels.data.specs import (
    TEXT_KINDS,
    DataSpec,
    bool_option,
    parse_spec,
    reject_options,
)
from tfmodels.data.streams import CorpusStream, TableStream, TextStream, TfdsStream
from tfmodels.data.synthetic import synthetic_instructions, synthetic_pairs, synthetic_reviews
from tfmodels.errors import DataError


@dataclass
class TextSet:
    texts: list[str]
    labels: np.ndarray | None  # (N,) int32; None for an unlabelled corpus, or until named labels get ids
    source: str
    class_names: list[str] = field(default_factory=list)
    label_names: list[str] | None = None  # (N,) the class of each example by name, where the source names them
    second: list[str] | None = None  # (N,) sentence pairs: the second sentence of each example

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def pairs(self) -> bool:
        return self.second is not None

    def columns(self) -> tuple[list[str], ...]:
        """(texts,) or, for pairs, (texts, second): what the preprocessor is called with."""
        return (self.texts, self.second) if self.pairs else (self.texts,)

    @property
    def labelled(self) -> bool:
        return self.labels is not None or self.label_names is not None

    def subset(self, index: np.ndarray, source: str) -> "TextSet":
        labels = None if self.labels is None else self.labels[index]
        names = None if self.label_names is None else [self.label_names[i] for i in index]
        second = None if self.second is None else [self.second[i] for i in index]
        return TextSet([self.texts[i] for i in index], labels, source, self.class_names, names, second)


def load_text(spec: str | DataSpec, role: str, options: TextTableOptions | None = None,
              labelled: bool = True) -> TextSet:
    """Loads the texts a spec names; `role` (train/validation/test) picks a source's default split."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind not in TEXT_KINDS:
        raise DataError(f"data spec '{spec.text}': '{spec.kind}' is an image source, but this model takes text "
                        f"({', '.join(TEXT_KINDS)})")
    options = options or TextTableOptions()
    if spec.kind in ("text", "tfds", "csv", "tsv") and bool_option(spec, "stream", False):  # data/streams.py
        return _stream_corpus(spec, role, labelled, options)
    spec, sample = _sample_option(spec)
    loader = {"synthetic": _load_synthetic, "synthetic_pairs": _load_synthetic_pairs, "jsonl": _load_jsonl,
              "synthetic_instructions": _load_synthetic_instructions,
              "csv": _load_table, "tsv": _load_table, "dir": _load_dir,
              "text": _load_corpus, "tfds": _load_tfds}[spec.kind]
    texts = loader(spec, role, options)
    if options.pairs != texts.pairs and not (spec.kind in INSTRUCTION_KINDS and options.template is not None):
        raise DataError(f"data spec '{spec.text}' gives {'sentence pairs' if texts.pairs else 'single texts'}, but "
                        f"data.text.text_column is {options.text_column!r}; "
                        + ("give two columns, e.g. [3, 4], to read pairs" if texts.pairs else
                           "sentence pairs come from csv:/tsv: tables with two text columns, or synthetic_pairs"))
    if len(texts) == 0:
        raise DataError(f"data spec '{spec.text}' gives no examples (an empty data set)")
    if sample is not None and sample < len(texts):
        index = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(texts), sample, replace=False))
        texts = texts.subset(index, spec.text)
    if labelled and not texts.labelled:
        raise DataError(f"data spec '{spec.text}' has no labels ('{spec.kind}:' is a plain corpus); "
                        "a classifier needs labelled text: use csv:, tsv:, dir: or tfds:")
    if texts.label_names is not None:  # ids of its own sorted names; a task gives all its sets the train set's
        assign_class_ids({role: texts})
    return texts


SAMPLE_SEED = 0  # `?sample=N` draws the same N examples in every run


def _sample_option(spec: DataSpec) -> tuple[DataSpec, int | None]:
    """Takes `sample=N` (a seeded random subset of N examples, any text source) out of the spec."""
    if "sample" not in spec.options:
        return spec, None
    options = dict(spec.options)
    text = options.pop("sample")
    try:
        sample = int(text)
    except ValueError:
        sample = 0
    if sample < 1:
        raise DataError(f"data spec '{spec.text}': sample={text!r} must be a positive whole number")
    return DataSpec(spec.kind, spec.argument, options, spec.text), sample


def load_texts(specs: str | list[str], role: str, options: TextTableOptions | None = None,
               labelled: bool = True) -> TextSet:
    """One spec, or several read as one set (in order), e.g. two corpora for pretraining."""
    if isinstance(specs, str):
        return load_text(specs, role, options, labelled)
    if not specs:
        raise DataError("an empty list of data specs; give at least one")
    parts = [load_text(spec, role, options, labelled) for spec in specs]
    if any(isinstance(p, CorpusStream) for p in parts):
        raise DataError("a streamed corpus (stream=true) is one spec; name several files with a pattern instead, "
                        "text:corpus/part-*.txt?stream=true")
    labels = None if any(p.labels is None for p in parts) else np.concatenate([p.labels for p in parts])
    names = None
    if labelled and any(p.label_names is not None for p in parts):
        if any(p.label_names is None for p in parts):
            raise DataError(f"the {role} specs mix integer labels and class names; use one kind of label")
        names = [n for p in parts for n in p.label_names]
    second = [t for p in parts for t in p.second] if parts[0].pairs else None
    return TextSet([t for p in parts for t in p.texts], labels, " + ".join(p.source for p in parts),
                   parts[0].class_names, names, second)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _split_and_size(spec: DataSpec, role: str) -> tuple[str, int | None]:
    """A synthetic source's `?split=` (default: the role) and `?size=` (training examples)."""
    reject_options(spec, {"split", "size"})
    split = spec.option("split", role)
    if split not in ("train", "validation", "test"):
        raise DataError(f"data spec '{spec.text}': split '{split}' does not exist; available: train, validation, test")
    size = spec.option("size")
    try:
        size = None if size is None else int(size)
    except ValueError:
        raise DataError(f"data spec '{spec.text}': size={size!r} is not a whole number") from None
    return split, size


def _load_synthetic(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    texts, labels = synthetic_reviews(*_split_and_size(spec, role))
    return TextSet(texts, labels, spec.text, ["negative", "positive"])


def _load_synthetic_pairs(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    split, size = _split_and_size(spec, role)
    firsts, seconds, labels = synthetic_pairs(split, size)
    return TextSet(firsts, labels, spec.text, ["different", "repeat"], second=seconds)


INSTRUCTION_KINDS = ("jsonl", "synthetic_instructions")  # sources of prompt/response pairs alone


def _load_synthetic_instructions(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    prompts, responses = synthetic_instructions(*_split_and_size(spec, role))
    return TextSet(prompts, None, spec.text, second=responses)


def _load_jsonl(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    """Prompt/response pairs, one JSON object a line: {"prompt": "...", "response": "..."}."""
    import json

    reject_options(spec, set())
    path = existing_file(spec)
    prompts, responses = [], []
    for number, line in enumerate(decode_utf8(read_bytes(path), path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise DataError(f"'{path}' line {number} is not JSON ({e})") from None
        for key in ("prompt", "response"):
            if not isinstance(record, dict) or not isinstance(record.get(key), str):
                raise DataError(f"'{path}' line {number} has no \"{key}\" text; every line is "
                                '{"prompt": "...", "response": "..."}')
        if not record["response"].strip():
            raise DataError(f"'{path}' line {number}: the response is empty")
        prompts.append(record["prompt"])
        responses.append(record["response"])
    return TextSet(prompts, None, spec.text, second=responses)


def _load_table(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    reject_options(spec, {"text_column", "label_column", "header", "delimiter"})
    path = existing_file(spec)
    delimiter = spec.option("delimiter", options.delimiter) or ("\t" if spec.kind == "tsv" else ",")
    text = decode_utf8(read_bytes(path), path)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are not examples
    if not lines:
        raise DataError(f"data file '{path}' is empty")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"'{path}' line {number} is empty; remove it (every line is one example)")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # A long document is one field: the csv module refuses fields over 131,072 characters by default.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    rows = list(csv.reader(lines, delimiter=delimiter, quoting=quoting))
    label_option = spec.option("label_column", options.label_column)
    text_options = _text_columns(spec.option("text_column", options.text_column), spec)
    header = bool_option(spec, "header", options.header)
    if header is None:
        header = _looks_like_header(rows, _as_index(label_option, None, rows[0]),
                                    _as_index(text_options[0], None, rows[0]))
    names = [c.strip().lstrip("\ufeff") for c in rows[0]] if header else None
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"'{path}' has a header but no examples (an empty data set)")
    width = len(rows[0])
    text_indices = [_as_index(column, names, rows[0], path, "text") for column in text_options]
    label_index = _as_index(label_option, names, rows[0], path, "label")
    columns, raw = [[] for _ in text_indices], []
    for number, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"'{path}' line {number}: {len(row)} columns, but the first line has {width}")
        for index, column in zip(text_indices, columns):
            content = row[index].strip()
            if not content:
                which = f" (column {index})" if len(text_indices) == 2 else ""
                raise DataError(f"'{path}' line {number}: the text{which} is empty")
            column.append(content)
        label = row[label_index].strip()
        if not label:
            raise DataError(f"'{path}' line {number}: the label is empty")
        raw.append(label)
    texts, second = columns[0], (columns[1] if len(columns) == 2 else None)
    first = 2 if header else 1
    integers = [_is_integer(label) for label in raw]
    if not any(integers):  # labelled by class name: ids come with the other sets
        return TextSet(texts, None, spec.text, label_names=raw, second=second)
    if not all(integers):
        line = first + integers.index(False)
        raise DataError(f"'{path}' line {line}: label {raw[line - first]!r} is not an integer, as the other labels "
                        "are; the labels must be all integers or all class names")
    return TextSet(texts, np.array([_label(label, path, first + i) for i, label in enumerate(raw)], dtype=np.int32),
                   spec.text, second=second)


def _text_columns(option, spec: DataSpec) -> list:
    """`text_column` as a list of one column (a text) or two (a sentence pair); a spec writes two as `3,4`."""
    columns = list(option) if isinstance(option, (list, tuple)) else (
        [c.strip() for c in option.split(",")] if isinstance(option, str) else [option])
    if not 1 <= len(columns) <= 2:
        raise DataError(f"data spec '{spec.text}': text_column names {len(columns)} columns; a text is one column "
                        "and a sentence pair two")
    return columns


def _load_dir(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    reject_options(spec, {"root"})
    files = class_files(spec, spec.option("root", ""))
    class_names = sorted(files)
    texts, names = [], []
    for name in class_names:
        for file_path, content in files[name]:
            data = content if content is not None else read_bytes(file_path)
            text = decode_utf8(data, file_path).strip()
            if not text:
                raise DataError(f"'{file_path}' is empty")
            texts.append(text)
            names.append(name)
    # Labelled by folder name: the ids come from the training set's folders, so a test folder with a
    # class missing (or one more) cannot shift them.
    return TextSet(texts, None, spec.text, class_names, label_names=names)


def _stream_corpus(spec: DataSpec, role: str, labelled: bool, options: TextTableOptions) -> CorpusStream:
    """`text:GLOB?stream=true` (the files), `csv:`/`tsv:GLOB?stream=true` (a text column of tables) or
    `tfds:NAME?stream=true` (the records), for a pretraining task to read as a stream."""
    reject_options(spec, {"text": {"stream"}, "tfds": {"stream", "split", "data_dir", "text_key"}}.get(
        spec.kind, {"stream", "text_column", "header", "delimiter"}))
    if labelled:
        raise DataError(f"data spec '{spec.text}': stream=true reads an unlabelled corpus, for pretraining "
                        "(model.type masked_lm or gpt); a classifier reads its labelled text whole")
    if spec.kind == "text":
        return TextStream.from_pattern(spec.argument, spec.text)
    if spec.kind in ("csv", "tsv"):
        return _stream_table(spec, options)
    from tfmodels.data.tfds_source import prepared_builder

    builder = prepared_builder(spec.argument, spec.option("data_dir"), spec.text)
    split, features = spec.option("split", role), builder.info.features
    if split not in builder.info.splits:
        raise DataError(f"data spec '{spec.text}': split '{split}' does not exist; available: "
                        f"{', '.join(sorted(builder.info.splits.keys()))}")
    text_key = spec.option("text_key") or next((k for k in ("text", "sentence", "content") if k in features), None)
    if text_key not in features:
        raise DataError(f"data spec '{spec.text}': no text feature '{text_key}' (set text_key); features are "
                        f"{', '.join(features)}")
    return TfdsStream(spec.argument, split, spec.option("data_dir"), text_key, spec.text)


def _stream_table(spec: DataSpec, options: TextTableOptions) -> TableStream:
    """The text column of tables read as a stream: the column by index or by its header's name, the header
    as for a table read whole (`header`, else guessed from the first file's first rows)."""
    files = TextStream.from_pattern(spec.argument, spec.text)
    delimiter = spec.option("delimiter", options.delimiter) or ("\t" if spec.kind == "tsv" else ",")
    column = spec.option("text_column", options.text_column)
    if isinstance(column, list):
        raise DataError(f"data spec '{spec.text}': a streamed corpus reads one text column, not {column}")
    opener = gzip.open if files.files[0].endswith(".gz") else open
    with opener(files.files[0], "rt", encoding="utf-8", errors="replace", newline="") as f:
        rows = [row for _, row in zip(range(20), csv.reader(
            f, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL))]
    if not rows:
        raise DataError(f"'{files.files[0]}' is empty")
    header = bool_option(spec, "header", options.header)
    if header is None:
        header = _looks_like_header(rows, _as_index(options.label_column, None, rows[0]),
                                    _as_index(column, None, rows[0]))
    names = [c.strip().lstrip("\ufeff") for c in rows[0]] if header else None
    index = _as_index(column, names, rows[0], files.files[0], "text")
    return TableStream(files.files, spec.text, column=index % len(rows[0]), delimiter=delimiter, header=header)


MAX_HELD_OUT_TEXTS = 20_000  # a streamed corpus's held-out file is read into memory up to this many texts


def held_out_texts(stream: CorpusStream) -> tuple[CorpusStream, TextSet]:
    """(the training stream, the held-out part's first texts) for a streamed corpus with no data.validation:
    the last file, or a TFDS data set's validation split."""
    train, held = stream.held_out()
    return train, TextSet(held.first_lines(MAX_HELD_OUT_TEXTS), None, held.source)


def _load_corpus(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    """A text file: its non-empty lines, stripped, as texts; with `?whole=true` the file as one text,
    every character kept (what a character language model reads)."""
    reject_options(spec, {"whole"})
    path = existing_file(spec)
    text = decode_utf8(read_bytes(path), path)
    if bool_option(spec, "whole", False):
        return TextSet([text] if text else [], None, spec.text)
    lines = [line.strip() for line in text.splitlines()]
    return TextSet([line for line in lines if line], None, spec.text)


def _load_tfds(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    from tfmodels.data.tfds_source import load_tfds_columns

    reject_options(spec, {"split", "data_dir", "text_key", "label_key"})
    texts, labels, class_names = load_tfds_columns(
        spec.argument, split=spec.option("split", role), data_dir=spec.option("data_dir"),
        text_key=spec.option("text_key"), label_key=spec.option("label_key", "label"), spec_text=spec.text)
    return TextSet([t.decode("utf-8", errors="replace") for t in texts], labels.astype(np.int32), spec.text,
                   class_names)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _as_index(column, names, first_row, path="", what="label") -> int:
    if isinstance(column, str) and column.lstrip("-").isdigit():
        column = int(column)
    width = len(first_row)
    if isinstance(column, str):
        if names is None:
            if path:
                raise DataError(f"'{path}': the {what} column '{column}' is a name, but the file has no header "
                                "(set header=true, or give the column's index)")
            return 0
        if column not in names:
            raise DataError(f"'{path}': no {what} column named '{column}'; columns are {', '.join(names)}")
        return names.index(column)
    if not -width <= column < width:
        if not path:
            return 0
        raise DataError(f"'{path}': the {what} column {column} does not exist; rows have {width} columns")
    return column % width


HEADER_WORDS = {"label", "labels", "class", "classes", "category", "target", "sentiment", "y", "quality",
                "text", "sentence", "review", "content", "document", "message", "body"}


def _looks_like_header(rows: list[list[str]], label: int, text: int) -> bool:
    """Integer labels: a header when the first row's label is no integer. Labels that are class names:
    when the first row's label is not a class found further down and one of its cells is a usual
    column name (label, class, text, sentence, ...); else set data.text.header."""
    first = [c.strip() for c in rows[0]]
    cell = first[label] if label < len(first) else ""
    below = [row[label].strip() for row in rows[1:] if label < len(row)]
    if _is_integer(cell):
        return False
    if below and all(_is_integer(value) for value in below):
        return True
    words = {first[i].lower() for i in (label, text) if -len(first) <= i < len(first)}
    return cell not in below and bool(words & HEADER_WORDS)


def _is_integer(text: str) -> bool:
    try:
        return float(text) == int(float(text))
    except (ValueError, OverflowError):
        return False


def _label(text: str, path: str, line: int) -> int:
    if not _is_integer(text.strip()):
        raise DataError(f"'{path}' line {line}: label {text.strip()!r} is not an integer")
    value = int(float(text))
    if value < 0:
        raise DataError(f"'{path}' line {line}: label {value} is negative; labels are 0..num_classes-1")
    return value


def read_lines_or_text(argument: str) -> list[str]:
    """For `predict`: a file's non-empty lines, or the argument itself as one text."""
    if os.path.isfile(argument):
        lines = [line.strip() for line in decode_utf8(read_bytes(argument), argument).splitlines()]
        return [line for line in lines if line]
    return [argument]

