"""Data spec strings: `KIND[:ARGUMENT][?key=value&key=value]`.

Images (models that take images):
    digits                      scikit-learn's bundled 8x8 digits (a fixed, seeded split)
    digits?split=all            all 1,797 of them (the UCI optdigits test split)
    csv:PATH                    one image a row: pixel columns and a label column (.csv or .csv.gz)
    idx:PREFIX                  MNIST IDX files PREFIX-images-idx3-ubyte[.gz], PREFIX-labels-idx1-ubyte[.gz]
    npz:PATH                    arrays x/y (or x_train/y_train, x_test/y_test) in a NumPy .npz
    dir:PATH                    one folder a class of JPEG/PNG images (Keras's image_dataset_from_directory
                                layout); PATH may be a .tar.gz with `?root=FOLDER/IN/ARCHIVE`; every image
                                the same size (`?image_shape=H,W` resizes) and channels (`?channels=1|3`)
    tfds:NAME                   a TensorFlow Datasets name (needs a network the first time)

Text (models that take text):
    synthetic                   the built-in synthetic reviews (negation and contrast; no network)
    synthetic_pairs             built-in sentence pairs: does the second sentence repeat the first?
    synthetic_instructions      built-in prompt/response pairs about the reviews (instruction tuning)
    csv:PATH, tsv:PATH          one example a row: a text column (or two, for pairs) and a label column
    dir:PATH                    one folder a class of .txt files (IMDB's layout); PATH may be a .tar.gz
                                with `?root=FOLDER/IN/ARCHIVE`
    text:PATH                   a plain corpus, one example a non-empty line (no labels)
    jsonl:PATH                  prompt/response pairs, one {"prompt": ..., "response": ...} a line (instruction tuning)
    tfds:NAME                   e.g. tfds:imdb_reviews, tfds:glue/sst2

Tagged words (token classifiers; tfmodels/data/tagging.py):
    conll:PATH                  CoNLL columns: a word a line (?token_column=0&tag_column=1&scheme=iob2)
    conllu:PATH                 Universal PropBank CoNLL-U: one example a predicate (semantic roles)
    synthetic_tags              built-in sentences with people, places and organisations

Questions about a context (question answerers; tfmodels/data/qa.py):
    squad:PATH                  SQuAD JSON v1.1 (DRCD, CMRC): paragraphs, questions, answers with offsets
    synthetic_qa                built-in contexts about made-up people, and questions about them

Source -> target pairs (encoder-decoders; tfmodels/data/parallel.py):
    parallel:PREFIX             PREFIX.<source> and PREFIX.<target>, line i paired (?source=de&target=en)
    jsonl:PATH                  JSON lines with the two fields named by ?source=FIELD&target=FIELD
    synthetic_s2s               built-in pairs: a made-up language, word by word and reversed

`$VAR` and `${VAR}` in a spec are replaced from the environment (e.g. `${TFMODELS_SHARED_DATA}`).
The `split` option picks a part of a source; without it, a source that has splits gives the one
named after its role (train, validation or test).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tfmodels.errors import DataError

KINDS = ("digits", "csv", "idx", "npz", "tfds", "synthetic", "synthetic_pairs", "synthetic_instructions", "tsv", "dir", "text",
         "jsonl", "conll", "conllu", "synthetic_tags", "squad", "synthetic_qa", "parallel", "synthetic_s2s")
IMAGE_KINDS = ("digits", "csv", "idx", "npz", "tfds", "dir")
TEXT_KINDS = ("synthetic", "synthetic_pairs", "synthetic_instructions", "csv", "tsv", "dir", "text", "tfds", "jsonl")
_NEEDS_ARGUMENT = ("csv", "idx", "npz", "tfds", "tsv", "dir", "text", "jsonl", "conll", "conllu", "squad", "parallel")


@dataclass(frozen=True)
class DataSpec:
    kind: str
    argument: str = ""
    options: dict = field(default_factory=dict)
    text: str = ""  # the spec as the user wrote it, for messages

    def option(self, key: str, default=None):
        return self.options.get(key, default)


def parse_spec(text: str) -> DataSpec:
    """Parses a spec string; raises DataError with the valid forms when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty data spec: use one of {', '.join(KINDS)} (e.g. 'digits', 'csv:PATH')")
    expanded = _expand_env(text.strip())
    body, _, query = expanded.partition("?")
    kind, _, argument = body.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DataError(
            f"data spec '{text}': unknown kind '{kind}'; use one of {', '.join(KINDS)} "
            "(e.g. 'digits', 'csv:data/train.csv', 'tfds:mnist')"
        )
    if kind in _NEEDS_ARGUMENT and not argument:
        raise DataError(f"data spec '{text}': '{kind}:' needs a {'name' if kind == 'tfds' else 'path'} after the colon")
    if kind not in _NEEDS_ARGUMENT and argument:
        raise DataError(f"data spec '{text}': '{kind}' takes no argument; options go after '?'")
    options = {}
    for pair in query.split("&") if query else []:
        if "=" not in pair:
            raise DataError(f"data spec '{text}': option '{pair}' is not of the form key=value")
        key, value = parse_qsl(pair, keep_blank_values=True)[0]
        options[key.strip()] = value.strip()
    return DataSpec(kind=kind, argument=argument, options=options, text=text)


def _expand_env(text: str) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise DataError(f"data spec '{text}': environment variable {name} is not set")
        return os.environ[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, text)


def reject_options(spec: DataSpec, allowed: set[str]) -> None:
    """Raises DataError naming the first option of `spec` that its kind does not take."""
    unknown = sorted(set(spec.options) - allowed)
    if unknown:
        raise DataError(f"data spec '{spec.text}': unknown option '{unknown[0]}' for '{spec.kind}'; "
                        f"valid: {', '.join(sorted(allowed)) or 'none'}")


def bool_option(spec: DataSpec, key: str, default):
    """True, False, or None ("auto") from `?key=...`, else `default`."""
    if key not in spec.options:
        return default
    value = spec.options[key].lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    if value == "auto":
        return None
    raise DataError(f"data spec '{spec.text}': option {key}={spec.options[key]!r} must be true, false or auto")
