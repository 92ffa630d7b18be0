"""Labelled text from a data spec, read and checked up front.

Every source gives a `TextSet`: the texts, integer labels (None for a plain corpus) and, where the
source names them, the class names. Tokenization happens later, in the tf.data pipeline.
"""

from __future__ import annotations

import csv
import os
import tarfile
from dataclasses import dataclass, field

import numpy as np

from tfmodels.config import TextTableOptions
from tfmodels.data.files import decode_utf8, existing_file, read_bytes
from tfmodels.data.specs import (
    TEXT_KINDS,
    DataSpec,
    bool_option,
    parse_spec,
    reject_options,
)
from tfmodels.data.synthetic import synthetic_reviews
from tfmodels.errors import DataError


@dataclass
class TextSet:
    texts: list[str]
    labels: np.ndarray | None  # (N,) int32; None for an unlabelled corpus
    source: str
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray, source: str) -> "TextSet":
        labels = None if self.labels is None else self.labels[index]
        return TextSet([self.texts[i] for i in index], labels, source, self.class_names)


def load_text(spec: str | DataSpec, role: str, options: TextTableOptions | None = None,
              labelled: bool = True) -> TextSet:
    """Loads the texts a spec names; `role` (train/validation/test) picks a source's default split."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind not in TEXT_KINDS:
        raise DataError(f"data spec '{spec.text}': '{spec.kind}' is an image source, but this model takes text "
                        f"({', '.join(TEXT_KINDS)})")
    options = options or TextTableOptions()
    spec, sample = _sample_option(spec)
    loader = {"synthetic": _load_synthetic, "csv": _load_table, "tsv": _load_table, "dir": _load_dir,
              "text": _load_corpus, "tfds": _load_tfds}[spec.kind]
    texts = loader(spec, role, options)
    if len(texts) == 0:
        raise DataError(f"data spec '{spec.text}' gives no examples (an empty data set)")
    if sample is not None and sample < len(texts):
        index = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(texts), sample, replace=False))
        texts = texts.subset(index, spec.text)
    if labelled and texts.labels is None:
        raise DataError(f"data spec '{spec.text}' has no labels ('{spec.kind}:' is a plain corpus); "
                        "a classifier needs labelled text: use csv:, tsv:, dir: or tfds:")
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
    labels = None if any(p.labels is None for p in parts) else np.concatenate([p.labels for p in parts])
    return TextSet([t for p in parts for t in p.texts], labels, " + ".join(p.source for p in parts),
                   parts[0].class_names)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _load_synthetic(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    reject_options(spec, {"split", "size"})
    split = spec.option("split", role)
    if split not in ("train", "validation", "test"):
        raise DataError(f"data spec '{spec.text}': split '{split}' does not exist; available: train, validation, test")
    size = spec.option("size")
    try:
        size = None if size is None else int(size)
    except ValueError:
        raise DataError(f"data spec '{spec.text}': size={size!r} is not a whole number") from None
    texts, labels = synthetic_reviews(split, size)
    return TextSet(texts, labels, spec.text, ["negative", "positive"])


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
    rows = list(csv.reader(lines, delimiter=delimiter, quoting=quoting))
    label_option = spec.option("label_column", options.label_column)
    text_option = spec.option("text_column", options.text_column)
    header = bool_option(spec, "header", options.header)
    if header is None:
        first_label = _as_index(label_option, None, rows[0])
        header = not _is_integer(rows[0][first_label] if first_label < len(rows[0]) else "")
    names = [c.strip() for c in rows[0]] if header else None
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"'{path}' has a header but no examples (an empty data set)")
    width = len(rows[0])
    text_index = _as_index(text_option, names, rows[0], path, "text")
    label_index = _as_index(label_option, names, rows[0], path, "label")
    texts, labels = [], []
    for number, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"'{path}' line {number}: {len(row)} columns, but the first line has {width}")
        content = row[text_index].strip()
        if not content:
            raise DataError(f"'{path}' line {number}: the text is empty")
        texts.append(content)
        labels.append(_label(row[label_index], path, number))
    return TextSet(texts, np.array(labels, dtype=np.int32), spec.text)


def _load_dir(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    reject_options(spec, {"root"})
    path = spec.argument
    if path.endswith((".tar.gz", ".tgz", ".tar")):
        files = _files_in_archive(path, spec.option("root", ""), spec)
    else:
        if not os.path.isdir(path):
            raise DataError(f"data folder '{path}' does not exist (from data spec '{spec.text}')")
        files = {}
        for name in sorted(os.listdir(path)):
            folder = os.path.join(path, name)
            if os.path.isdir(folder):
                files[name] = [(os.path.join(folder, f), None) for f in sorted(os.listdir(folder))
                               if os.path.isfile(os.path.join(folder, f))]
    class_names = sorted(files)
    if len(class_names) < 2:
        raise DataError(f"'{path}' needs one sub-folder a class (at least two); found {class_names or 'none'}")
    texts, labels = [], []
    for label, name in enumerate(class_names):
        for file_path, content in files[name]:
            data = content if content is not None else read_bytes(file_path)
            text = decode_utf8(data, file_path).strip()
            if not text:
                raise DataError(f"'{file_path}' is empty")
            texts.append(text)
            labels.append(label)
    return TextSet(texts, np.array(labels, dtype=np.int32), spec.text, class_names)


def _files_in_archive(path: str, root: str, spec: DataSpec) -> dict[str, list[tuple[str, bytes]]]:
    if not os.path.isfile(path):
        raise DataError(f"archive '{path}' does not exist (from data spec '{spec.text}')")
    root = root.strip("/")
    files: dict[str, list[tuple[str, bytes]]] = {}
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                parts = member.name.strip("./").split("/")
                prefix = root.split("/") if root else []
                if parts[:len(prefix)] != prefix or len(parts) != len(prefix) + 2:
                    continue  # only ROOT/CLASS/FILE
                files.setdefault(parts[-2], []).append((f"{path}:{member.name}", archive.extractfile(member).read()))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"archive '{path}' cannot be read: {e}") from None
    if not files:
        raise DataError(f"archive '{path}' has no ROOT/CLASS/FILE entries under root '{root}'; "
                        f"give the folder of the class folders, e.g. 'dir:{path}?root=aclImdb/train'")
    return {name: sorted(entries) for name, entries in files.items()}


def _load_corpus(spec: DataSpec, role: str, options: TextTableOptions) -> TextSet:
    reject_options(spec, set())
    path = existing_file(spec)
    lines = [line.strip() for line in decode_utf8(read_bytes(path), path).splitlines()]
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

