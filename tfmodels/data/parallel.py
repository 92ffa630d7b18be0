"""Source -> target pairs for encoder-decoders (translation, summarization).

    parallel:PREFIX?source=de&target=en   two plain-text files PREFIX.de and PREFIX.en, line i of one paired
                                          with line i of the other (Multi30k's, OpenNMT's and Moses's layout)
    jsonl:PATH?source=email&target=subject  JSON lines, one pair a line, the two fields named in the spec
                                          (defaults: source, target)
    synthetic_s2s                         built-in pairs (no files): a made-up language's sentences, their words
                                          translated word by word and written in reverse order

Every spec takes `?sample=N`: N pairs drawn with the fixed split seed (in file order). Files are read
whole and checked: two parallel files of different lengths, an empty source or target line, a JSON
line that is not an object or lacks a named field are refused in one line naming the file and line.
Cutting to the model's lengths happens later, in tokens (`tasks/seq2seq.py`), and is counted there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from tfmodels.data.examples import SPLIT_SEED
from tfmodels.data.files import decode_utf8, read_bytes
from tfmodels.data.specs import DataSpec, parse_spec
from tfmodels.errors import DataError

PAIR_KINDS = ("parallel", "jsonl", "synthetic_s2s")


@dataclass
class PairSet:
    """Sources and their targets; `references` holds more reference targets a pair when the file has them
    (AESLC's dev annotations are not read: one reference, the file's target field)."""

    sources: list[str]
    targets: list[str]
    source: str = ""  # the spec, for messages and data.json
    fields: tuple[str, str] = ("source", "target")  # what the two sides are (languages or field names)
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices, source: str | None = None) -> "PairSet":
        indices = list(indices)
        return PairSet([self.sources[i] for i in indices], [self.targets[i] for i in indices], source or self.source,
                       self.fields)


def load_pairs(text: str | DataSpec, role: str) -> PairSet:
    """The pairs a spec names (`role` is for messages)."""
    spec = text if isinstance(text, DataSpec) else parse_spec(text)
    if spec.kind not in PAIR_KINDS:
        raise DataError(f"data spec '{spec.text}': an encoder-decoder reads parallel:PREFIX?source=..&target=.., "
                        f"jsonl:PATH?source=..&target=.. or synthetic_s2s, not {spec.kind}")
    allowed = {"parallel": {"source", "target", "sample"}, "jsonl": {"source", "target", "sample"},
               "synthetic_s2s": {"sample", "size"}}[spec.kind]
    unknown = sorted(set(spec.options) - allowed)
    if unknown:
        raise DataError(f"data spec '{spec.text}': unknown option '{unknown[0]}' (this kind takes: "
                        f"{', '.join(sorted(allowed))})")
    if spec.kind == "synthetic_s2s":
        pairs = synthetic_translations(role, _count(spec, "size", 3000 if role == "train" else 300))
    elif spec.kind == "parallel":
        pairs = read_parallel(spec)
    else:
        pairs = read_jsonl_pairs(spec)
    if "sample" in spec.options:
        size = min(len(pairs), _count(spec, "sample", 0))
        pairs = pairs.subset(sorted(np.random.default_rng(SPLIT_SEED).permutation(len(pairs))[:size].tolist()))
    return pairs


def _count(spec: DataSpec, key: str, default: int) -> int:
    value = spec.options.get(key)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise DataError(f"data spec '{spec.text}': {key}={value!r} must be a positive integer")
    return int(value)


def _lines(path: str, spec: DataSpec) -> list[str]:
    if not os.path.isfile(path):
        raise DataError(f"data spec '{spec.text}': no file '{path}'")
    text = decode_utf8(read_bytes(path), path)
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_parallel(spec: DataSpec) -> PairSet:
    """PREFIX.<source> and PREFIX.<target>, one sentence a line, the same number of lines."""
    if "source" not in spec.options or "target" not in spec.options:
        raise DataError(f"data spec '{spec.text}': parallel: needs the two files' suffixes, e.g. "
                        f"parallel:{spec.argument}?source=de&target=en (files {spec.argument}.de and {spec.argument}.en)")
    names = [f"{spec.argument}.{spec.options[side]}" for side in ("source", "target")]
    sources, targets = (_lines(name, spec) for name in names)
    if len(sources) != len(targets):
        raise DataError(f"'{names[0]}' has {len(sources)} lines and '{names[1]}' has {len(targets)}; parallel files "
                        "pair line i of one with line i of the other, so they must have as many lines")
    for name, lines in zip(names, (sources, targets)):
        for i, line in enumerate(lines):
            if not line.strip():
                raise DataError(f"'{name}' line {i + 1} is empty; every pair needs a source and a target: remove "
                                f"line {i + 1} from both files")
    return PairSet([s.strip() for s in sources], [t.strip() for t in targets], spec.text,
                   (spec.options["source"], spec.options["target"]))


def read_jsonl_pairs(spec: DataSpec) -> PairSet:
    """One JSON object a line; the fields named by ?source= and ?target= (defaults: source, target)."""
    keys = spec.options.get("source", "source"), spec.options.get("target", "target")
    sources, targets = [], []
    path = spec.argument
    for i, line in enumerate(_lines(path, spec)):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"'{path}' line {i + 1} is not JSON ({e.msg}); a jsonl: spec reads one object a line") from None
        if not isinstance(record, dict):
            raise DataError(f"'{path}' line {i + 1} is a JSON {type(record).__name__}, not an object with the fields "
                            f"{keys[0]!r} and {keys[1]!r}")
        for side, key in zip(("source", "target"), keys):
            if key not in record:
                raise DataError(f"'{path}' line {i + 1} has no field {key!r} (its fields: {', '.join(record)}); name "
                                f"the {side} field with ?{side}=FIELD")
            if not isinstance(record[key], str) or not record[key].strip():
                raise DataError(f"'{path}' line {i + 1}: field {key!r} is empty or not a string; every pair needs a "
                                "source and a target text")
        sources.append(" ".join(record[keys[0]].split()))
        targets.append(" ".join(record[keys[1]].split()))
    if not sources:
        raise DataError(f"'{path}' holds no pairs")
    return PairSet(sources, targets, spec.text, keys)


# --- built-in pairs ------------------------------------------------------------------------------------

_WORDS = {"the": "di", "a": "en", "red": "rotu", "small": "kli", "old": "alo", "green": "gru", "cat": "kaz",
          "dog": "hun", "bird": "foge", "man": "mano", "woman": "frau", "child": "kin", "sees": "sit", "likes": "mag",
          "follows": "folg", "finds": "fin", "near": "bei", "under": "unt", "house": "has", "tree": "bom",
          "river": "flus", "today": "hoi", "again": "wid"}


def synthetic_translations(role: str, size: int) -> PairSet:
    """`size` pairs: sentences of a small grammar -> their words mapped one for one and reversed (the target's
    word i translates the source's word n - 1 - i, so the decoder must attend across the whole source).
    The roles draw from different seeds."""
    rng = np.random.default_rng({"train": 11, "validation": 12, "test": 13}.get(role, 14))
    nouns, adjectives = ["cat", "dog", "bird", "man", "woman", "child"], ["red", "small", "old", "green"]
    verbs, places = ["sees", "likes", "follows", "finds"], ["house", "tree", "river"]

    def phrase():
        words = [str(rng.choice(["the", "a"]))]
        if rng.random() < 0.5:
            words.append(str(rng.choice(adjectives)))
        return words + [str(rng.choice(nouns))]

    sources, targets = [], []
    for _ in range(size):
        words = phrase() + [str(rng.choice(verbs))] + phrase()
        if rng.random() < 0.4:
            words += [str(rng.choice(["near", "under"])), "the", str(rng.choice(places))]
        if rng.random() < 0.3:
            words.append(str(rng.choice(["today", "again"])))
        sources.append(" ".join(words))
        targets.append(" ".join(_WORDS[w] for w in reversed(words)))
    return PairSet(sources, targets, "synthetic_s2s", ("source", "target"))
