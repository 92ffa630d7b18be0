"""Tagged words: CoNLL column files (named entities) and Universal PropBank CoNLL-U (semantic roles).

    conll:PATH      one word a line, its token and tag in columns (`token_column`, `tag_column`, split on
                    whitespace), a blank line between sentences, `-DOCSTART-` lines skipped; the tags of
                    `scheme` (iob1, iob2, bioes, bmes), checked and converted to the scheme the model learns
    conllu:PATH     Universal PropBank: CoNLL-U with column 11 the predicate's roleset (`come.03`, or `_`)
                    and from column 12 on one column a predicate, in sentence order, giving each word's
                    role for it (`ARG0`, `ARGM-TMP`, `V`, `_`); one example a predicate, roles on head words
    synthetic_tags  built-in sentences with people, places and organisations (IOB2; no files, no network)

A set holds whole words; sub-words are the tokenizer's business (`word_packer.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from tfmodels.data.examples import SPLIT_SEED
from tfmodels.data.specs import DataSpec, parse_spec, reject_options
from tfmodels.data.tag_schemes import OUTSIDE, SCHEMES, bad_tag, convert
from tfmodels.errors import DataError

DOCSTART = "-DOCSTART-"
NO_ROLE = ("_", "")  # a PropBank column's "no role here" (some files leave the cell empty)
PREDICATE_ROLE = "V"  # the predicate itself in its own column: not an argument, never scored
TAG_KINDS = ("conll", "conllu", "synthetic_tags")


@dataclass
class TaggedSet:
    """Sentences of words with a tag a word; for SRL, one example a predicate of a sentence."""

    words: list[list[str]]
    tags: list[list[str]]
    source: str
    predicates: list[int] | None = None  # SRL: the predicate's word index in each example
    sentence_ids: list[int] = field(default_factory=list)  # the sentence each example comes from
    relations: list[list[str]] | None = None  # SRL: each word's dependency relation (the baseline's feature)
    heads: list[list[int]] | None = None  # SRL: each word's head (word index, -1 for the root)

    def __post_init__(self):
        if not self.sentence_ids:
            self.sentence_ids = list(range(len(self.words)))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def srl(self) -> bool:
        return self.predicates is not None

    def subset(self, index, source: str | None = None) -> "TaggedSet":
        pick = lambda values: None if values is None else [values[i] for i in index]  # noqa: E731
        return replace(self, words=pick(self.words), tags=pick(self.tags), source=source or self.source,
                       predicates=pick(self.predicates), sentence_ids=pick(self.sentence_ids),
                       relations=pick(self.relations), heads=pick(self.heads))

    def tag_set(self) -> set[str]:
        return {tag for tags in self.tags for tag in tags}


@dataclass(frozen=True)
class ReadOptions:
    token_column: int = 0
    tag_column: int = 1
    scheme: str = "iob2"  # of the file
    learn_scheme: str = "bioes"  # of the model (iob2 or bioes); SRL roles are not converted


def load_tagged(text: str | DataSpec, role: str, options: ReadOptions) -> TaggedSet:
    """The tagged set a spec names (`role` is for messages), its tags in `options.learn_scheme`."""
    spec = text if isinstance(text, DataSpec) else parse_spec(text)
    if spec.kind not in TAG_KINDS:
        raise DataError(f"data spec '{spec.text}': a tagger reads {', '.join(k + ':' for k in TAG_KINDS[:2])} or "
                        f"synthetic_tags, not {spec.kind}")
    reject_options(spec, {"token_column", "tag_column", "scheme", "split", "sample"} if spec.kind == "conll"
                   else {"split", "sample"})
    tagged = _read_spec(spec, options, role)
    if "sample" in spec.options:  # the first N examples (a quick look at a large file)
        if not spec.options["sample"].isdigit() or int(spec.options["sample"]) < 1:
            raise DataError(f"data spec '{spec.text}': sample={spec.options['sample']!r} must be a positive integer")
        tagged = tagged.subset(range(min(len(tagged), int(spec.options["sample"]))))
    return tagged


def _read_spec(spec: DataSpec, options: ReadOptions, role: str) -> TaggedSet:
    if spec.kind == "synthetic_tags":
        return synthetic_tags(role, options.learn_scheme)
    path = spec.argument
    if not os.path.isfile(path):
        raise DataError(f"data spec '{spec.text}': no file '{path}'")
    if spec.kind == "conllu":
        return read_propbank(path)
    options = replace(options, **{k: int(spec.options[k]) for k in ("token_column", "tag_column") if k in spec.options},
                      **({"scheme": spec.options["scheme"]} if "scheme" in spec.options else {}))
    if options.scheme not in SCHEMES:
        raise DataError(f"data spec '{spec.text}': scheme={options.scheme!r}; use one of {', '.join(SCHEMES)}")
    return read_conll(path, options)


def read_conll(path: str, options: ReadOptions) -> TaggedSet:
    """A CoNLL column file: the tokens and tags of its sentences, the tags checked against the file's
    scheme (file:line of the first bad one) and converted to the learnt scheme."""
    words, tags, sentence, sentence_tags, columns = [], [], [], [], None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            cells = line.split()
            if not cells or cells[0] == DOCSTART:
                if sentence:
                    words.append(sentence)
                    tags.append(convert(sentence_tags, options.learn_scheme))
                sentence, sentence_tags = [], []
                continue
            if columns is None:
                columns = len(cells)
                for name in ("token_column", "tag_column"):
                    index = getattr(options, name)
                    if not -columns <= index < columns:
                        raise DataError(f"{path}:{number}: {name}={index}, but the lines have {columns} columns "
                                        f"({line.strip()!r}); give ?{name}=N of the right column")
            if len(cells) != columns:
                raise DataError(f"{path}:{number}: {len(cells)} columns where the file's lines have {columns} "
                                f"({line.strip()!r}); a malformed line (a space inside a token?)")
            tag = cells[options.tag_column]
            why = bad_tag(tag, options.scheme)
            if why:
                raise DataError(f"{path}:{number}: {why}; is scheme={options.scheme} right, and tag_column="
                                f"{options.tag_column}?")
            sentence.append(cells[options.token_column])
            sentence_tags.append(tag)
    if sentence:
        words.append(sentence)
        tags.append(convert(sentence_tags, options.learn_scheme))
    if not words:
        raise DataError(f"{path}: no sentences (one 'token tag' a line, blank lines between sentences)")
    return TaggedSet(words, tags, path)


def read_propbank(path: str) -> TaggedSet:
    """Universal PropBank CoNLL-U: one example a predicate (its word index, each word's role or O)."""
    words, tags, predicates, sentence_ids, relations, heads = [], [], [], [], [], []
    sentences = 0
    for first_line, rows in _conllu_sentences(path):
        widths = {len(r[1]) for r in rows}
        if len(widths) > 1:
            number, row = next((n, r) for n, r in rows if len(r) != len(rows[0][1]))
            raise DataError(f"{path}:{number}: {len(row)} columns where the sentence's first line has "
                            f"{len(rows[0][1])}")
        cells = [r for _, r in rows]
        if len(cells[0]) < 11:
            raise DataError(f"{path}:{first_line}: {len(cells[0])} columns; Universal PropBank has the 10 of CoNLL-U, "
                            "then the roleset (column 11) and one role column a predicate")
        predicate_words = [i for i, c in enumerate(cells) if c[10] not in NO_ROLE]
        role_columns = len(cells[0]) - 11
        if role_columns != len(predicate_words) and not (
                not predicate_words and all(c[j] in NO_ROLE for c in cells for j in range(11, len(c)))):
            raise DataError(f"{path}:{first_line}: the sentence has {len(predicate_words)} predicate(s) in column 11 "
                            f"but {role_columns} role column(s); there must be one role column a predicate, in order")
        sentence_words = [c[1] for c in cells]
        relation = [c[7] for c in cells]
        head = [int(c[6]) - 1 if c[6].isdigit() else -1 for c in cells]
        for j, p in enumerate(predicate_words):
            words.append(sentence_words)
            tags.append([OUTSIDE if c[11 + j] in NO_ROLE else c[11 + j] for c in cells])
            predicates.append(p)
            sentence_ids.append(sentences)
            relations.append(relation)
            heads.append(head)
        sentences += 1
    if not words:
        raise DataError(f"{path}: no predicates (column 11 names each predicate's roleset)")
    return TaggedSet(words, tags, path, predicates=predicates, sentence_ids=sentence_ids, relations=relations,
                     heads=heads)


def _conllu_sentences(path: str):
    """(line number of its first word, [(line number, cells)]) for each sentence; multi-word tokens
    (`1-2`) and empty nodes (`8.1`) are not words and are skipped."""
    rows, first = [], 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if rows:
                    yield first, rows
                rows = []
                continue
            if line.startswith("#"):
                continue
            cells = line.split("\t")
            if "-" in cells[0] or "." in cells[0]:
                continue
            if not cells[0].isdigit():
                raise DataError(f"{path}:{number}: not a CoNLL-U word line (its first column is {cells[0]!r}, not a "
                                "word number)")
            if not rows:
                first = number
            rows.append((number, cells))
    if rows:
        yield first, rows


def carve_by_sentence(tagged: TaggedSet, fraction: float, seed: int = SPLIT_SEED) -> tuple[TaggedSet, TaggedSet]:
    """(train, validation): a seeded `fraction` of the sentences held out, every example of a sentence
    (every predicate) on one side."""
    sentences = sorted(set(tagged.sentence_ids))
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(sentences)[:max(1, round(len(sentences) * fraction))].tolist())
    if len(held) >= len(sentences):
        raise DataError(f"'{tagged.source}' has {len(sentences)} sentence(s): too few to hold out a validation set")
    train = [i for i, s in enumerate(tagged.sentence_ids) if s not in held]
    validation = [i for i, s in enumerate(tagged.sentence_ids) if s in held]
    return (tagged.subset(train, f"{tagged.source} (train carve)"),
            tagged.subset(validation, f"{tagged.source} ({fraction:.0%} of the sentences, seed {seed})"))


# --- built-in data: a tiny named-entity set for demos and tests --------------------------------------
PEOPLE = ["Anna Berg", "Peter Blackburn", "Li Wei", "Maria da Silva", "John Smith", "Sara Okafor", "Tom", "Ines Duarte"]
PLACES = ["Paris", "Brussels", "New York", "Lagos", "Berlin", "Lisbon", "Kyoto", "Cape Town"]
ORGANISATIONS = ["European Commission", "Reuters", "Acme Corp", "United Nations", "Bank of England", "BBC"]
FRAMES = ["{PER} visited {LOC} last week .", "{ORG} said {PER} will lead the team .",
          "officials in {LOC} met {ORG} on Monday .", "{PER} joined {ORG} in {LOC} .",
          "the report from {ORG} was read in {LOC} .", "yesterday {PER} flew to {LOC} with {PER} ."]


def synthetic_tags(role: str, scheme: str = "iob2", size: int | None = None) -> TaggedSet:
    """Template sentences with PER, LOC and ORG entities (train: 600, validation: 120, test: 120)."""
    size = size or {"train": 600}.get(role, 120)
    rng = np.random.default_rng({"train": 0, "validation": 1, "test": 2}.get(role, 3))
    pools = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGANISATIONS}
    words, tags = [], []
    for _ in range(size):
        sentence, sentence_tags = [], []
        for piece in FRAMES[rng.integers(len(FRAMES))].split():
            if piece.startswith("{"):
                kind = piece[1:-1]
                name = pools[kind][rng.integers(len(pools[kind]))].split()
                sentence += name
                sentence_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            else:
                sentence.append(piece)
                sentence_tags.append(OUTSIDE)
        words.append(sentence)
        tags.append(convert(sentence_tags, scheme))
    return TaggedSet(words, tags, f"synthetic_tags ({role})")
