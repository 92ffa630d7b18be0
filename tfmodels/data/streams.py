"""Corpora larger than memory: text files read as a stream, tokenized in `tf.data`, never held whole.

    text:corpus/part-*.txt?stream=true      every file the pattern matches (sorted; plain or .gz), a text a line
    tsv:data/part-*.tsv?stream=true         a table's text column (data.text.text_column), a row a text
    tfds:NAME?stream=true&text_key=text     a TFDS data set's text feature, read record by record

The in-memory path (`text.py`, `masked_lm_pipeline.token_chunks`, `lm_pipeline`) reads every text and
every token id into NumPy; this one holds only a shuffle buffer of sequences. The order is still a
function of the seed alone, so a resumed run sees what a run never stopped would have:

- epoch (masked LM) or pass (GPT) e reads the files in an order drawn from (seed, e), interleaved
  `cycle` files at a time, deterministically; lines are tokenized a batch at a time and joined into
  one stream of ids ([SEP] or `<|endoftext|>` after each text), cut into sequences, and shuffled
  through a buffer of `buffer` sequences seeded from (seed, e);
- a run on a stream trains by steps (its length is not known before it is read): passes one after
  another, a masked LM's sequences and a GPT's windows of block + 1 tokens consecutive in the stream
  (not the random offsets nanoGPT draws from memory); a resume at step s skips the first s batches,
  which reads (and tokenizes) their text again but trains nothing.

What is held out for validation is the last file (TFDS: the data set's validation split), read into memory
up to `text.MAX_HELD_OUT_TEXTS` texts, unless `data.validation` names another corpus. A TFDS data set's
records are read in their stored order each pass (the shuffle buffer, seeded by the pass, mixes them).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import gzip
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError

TOKENIZE_BATCH = 256
CYCLE = 4  # files read at once


class CorpusStream:
    """A corpus read as a stream: its texts as a `tf.data` data set of lines, a pass at a time."""

    source: str

    def lines(self, seed: int, epoch) -> tf.data.Dataset:  # pragma: no cover - each kind overrides it
        raise NotImplementedError

    def first_lines(self, limit: int) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def held_out(self) -> tuple["CorpusStream", "CorpusStream"]:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> dict:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class TextStream(CorpusStream):
    """The files of a streamed corpus (what `text:GLOB?stream=true` names)."""

    files: tuple[str, ...]
    source: str

    @classmethod
    def from_pattern(cls, pattern: str, source: str) -> "TextStream":
        files = tuple(sorted(f for f in glob.glob(pattern) if not f.endswith("/")))
        if not files:
            raise DataError(f"'{pattern}' matches no file; give a file or a pattern such as corpus/part-*.txt")
        compressed = {f.endswith(".gz") for f in files}
        if len(compressed) > 1:
            raise DataError(f"'{pattern}' matches both .gz and plain files; stream one kind at a time")
        return cls(files, source)

    @property
    def compression(self) -> str:
        return "GZIP" if self.files[0].endswith(".gz") else ""

    def describe(self) -> dict:
        return {"files": len(self.files)}

    def held_out(self) -> tuple["TextStream", "TextStream"]:
        """(training files, the last file) for validation when none is given."""
        if len(self.files) < 2:
            raise DataError(f"'{self.source}' streams one file, so nothing is left to hold out for validation; "
                            "shard the corpus into several files (the last one is held out) or give data.validation")
        return (dataclasses.replace(self, files=self.files[:-1]),
                dataclasses.replace(self, files=self.files[-1:], source=f"{self.files[-1]} (held out)"))

    def _texts_of(self, f) -> Iterator[str]:
        """A file's texts, read in Python (`first_lines`): its lines."""
        return iter(f)

    def first_lines(self, limit: int) -> list[str]:
        """Up to `limit` non-empty texts from the start of the files, in sorted order (a vocabulary's sample,
        a held-out validation set)."""
        lines = []
        for path in self.files:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
                for line in self._texts_of(f):
                    if line.strip():
                        lines.append(line.strip())
                        if len(lines) >= limit:
                            return lines
        if not lines:
            raise DataError(f"'{self.source}' holds no text")
        return lines

    def _file_lines(self, path) -> tf.data.Dataset:
        return tf.data.TextLineDataset(path, compression_type=self.compression)

    def lines(self, seed: int, epoch, cycle: int = CYCLE) -> tf.data.Dataset:
        """The non-empty lines, stripped, of every file: the files in an order drawn from (seed, epoch)."""
        files = tf.constant(self.files)
        order = tf.random.experimental.stateless_shuffle(
            files, seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)]))
        lines = tf.data.Dataset.from_tensor_slices(order).interleave(
            self._file_lines, cycle_length=min(cycle, len(self.files)), block_length=16,
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return lines.map(tf.strings.strip).filter(lambda line: tf.strings.length(line) > 0)


@dataclass(frozen=True)
class TableStream(TextStream):
    """One text column of CSV/TSV files (what `csv:GLOB?stream=true` or `tsv:GLOB?stream=true` names)."""

    column: int = 0  # the text column's index
    delimiter: str = "\t"
    header: bool = True  # each file's first row names the columns

    def _texts_of(self, f) -> Iterator[str]:
        rows = csv.reader(f, delimiter=self.delimiter, quoting=csv.QUOTE_NONE if self.delimiter == "\t"
                          else csv.QUOTE_MINIMAL)
        if self.header:
            next(rows, None)
        return (row[self.column] for row in rows if len(row) > self.column)

    def _file_lines(self, path) -> tf.data.Dataset:
        return tf.data.experimental.CsvDataset(path, [tf.string], select_cols=[self.column], header=self.header,
                                               field_delim=self.delimiter, use_quote_delim=self.delimiter != "\t",
                                               compression_type=self.compression).map(lambda text: text)

    def describe(self) -> dict:
        return {"files": len(self.files), "text_column": self.column}


@dataclass(frozen=True)
class TfdsStream(CorpusStream):
    """A TFDS data set's text feature, record by record (what `tfds:NAME?stream=true` names)."""

    name: str
    split: str
    data_dir: str | None
    text_key: str
    source: str

    def _records(self) -> tf.data.Dataset:
        from tfmodels.data.tfds_source import prepared_builder

        builder = prepared_builder(self.name, self.data_dir, self.source)
        return builder.as_dataset(split=self.split, shuffle_files=False).map(lambda r: r[self.text_key])

    def lines(self, seed: int, epoch) -> tf.data.Dataset:
        return self._records().map(tf.strings.strip).filter(lambda line: tf.strings.length(line) > 0)

    def first_lines(self, limit: int) -> list[str]:
        lines = [t.decode("utf-8", "replace") for t in self.lines(0, 0).take(limit).as_numpy_iterator()]
        if not lines:
            raise DataError(f"'{self.source}' holds no text")
        return lines

    def held_out(self) -> tuple["TfdsStream", "TfdsStream"]:
        from tfmodels.data.tfds_source import prepared_builder

        splits = set(prepared_builder(self.name, self.data_dir, self.source).info.splits.keys())
        held = next((s for s in ("validation", "test") if s in splits and s != self.split), None)
        if held is None:
            raise DataError(f"'{self.source}' has no validation or test split to hold out; give data.validation")
        return self, TfdsStream(self.name, held, self.data_dir, self.text_key, f"tfds:{self.name}?split={held}")

    def describe(self) -> dict:
        return {"tfds": self.name, "split": self.split}


def token_ids(lines: tf.data.Dataset, tokenize, separator: int) -> tf.data.Dataset:
    """One stream of scalar ids: each line's tokens, then `separator`."""
    def flat(batch):  # (b,) strings -> (n,) ids
        ragged = tf.cast(tokenize(batch), tf.int32)  # (b, None)
        ends = tf.fill([ragged.nrows(), 1], tf.constant(separator, tf.int32))
        return tf.concat([ragged, tf.RaggedTensor.from_tensor(ends)], axis=1).flat_values

    return lines.batch(TOKENIZE_BATCH).map(flat, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()


def shuffle_seed(seed: int, epoch) -> tf.Tensor:
    return tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64)


def masked_lm_sequences(stream: TextStream, tokenize, sep_id: int, cls_id: int, sequence_length: int, seed: int,
                        epoch, buffer: int) -> tf.data.Dataset:
    """One epoch's sequences (T,) int32 ([CLS] then T - 1 ids of the joined texts), shuffled through `buffer`."""
    chunks = token_ids(stream.lines(seed, epoch), tokenize, sep_id).batch(sequence_length - 1, drop_remainder=True)
    chunks = chunks.map(lambda c: tf.concat([[cls_id], c], 0))
    return chunks.shuffle(buffer, seed=shuffle_seed(seed, epoch), reshuffle_each_iteration=False)


def masked_lm_stream(stream: TextStream, tokenize, sep_id: int, cls_id: int, sequence_length: int, seed: int,
                     global_batch: int, buffer: int) -> tf.data.Dataset:
    """Full batches (B, T) for a masked LM trained by steps: pass after pass over the corpus, without end."""
    def pass_batches(p):
        sequences = masked_lm_sequences(stream, tokenize, sep_id, cls_id, sequence_length, seed, p, buffer)
        return sequences.batch(global_batch, drop_remainder=True)

    return tf.data.Dataset.range(tf.int64.max).flat_map(pass_batches)


def lm_windows(stream: TextStream, tokenize, end_of_text: int, block_size: int, seed: int, global_batch: int,
               first_step: int, steps: int, buffer: int) -> tf.data.Dataset:
    """A causal LM's batches (x (B, block), y (B, block)) for steps first_step .. first_step + steps - 1:
    consecutive windows of block + 1 tokens, pass after pass over the corpus, each pass shuffled."""
    def pass_windows(p):
        ids = token_ids(stream.lines(seed, p), tokenize, end_of_text)
        windows = ids.batch(block_size + 1, drop_remainder=True)
        return windows.shuffle(buffer, seed=shuffle_seed(seed, p), reshuffle_each_iteration=False)

    windows = tf.data.Dataset.range(tf.int64.max).flat_map(pass_windows)
    batches = windows.batch(global_batch, drop_remainder=True).skip(first_step).take(steps)
    return batches.map(lambda w: (w[:, :-1], w[:, 1:])).prefetch(tf.data.AUTOTUNE)


def as_array(sequences: tf.data.Dataset, limit: int) -> np.ndarray:
    """The first `limit` elements of a data set of equal-shaped arrays, stacked (a held-out validation set)."""
    rows = list(sequences.take(limit).as_numpy_iterator())
    return np.stack(rows) if rows else np.zeros((0,), np.int32)
