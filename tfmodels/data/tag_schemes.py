"""Tag schemes of named entities: reading spans off tags, writing spans as tags, legal transitions.

A tag is `PREFIX-TYPE` (`B-ORG`) or `O`. The schemes differ in their prefixes:
- IOB1 (CoNLL-2003's original): `I-` inside any entity, `B-` only to split two adjacent ones of a type;
- IOB2 (BIO): `B-` begins every entity, `I-` continues it;
- BIOES: `B-` begin, `I-` inside, `E-` end, `S-` a one-word entity;
- BMES (Chinese sets): BIOES with `M-` for `I-`.

`spans` reads entities as conlleval and seqeval's default mode do (an `I-` after `O` or after another
type starts an entity, so IOB1, IOB2 and BIOES all read right, and a model's invalid sequences are
scored as those tools score them). Files are converted to the scheme the model learns (`to_tags`), and
`allowed_transitions` says which tag may follow which in it: the constrained decoder's table.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("iob1", "iob2", "bioes", "bmes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES", "bmes": "BMES"}
OUTSIDE = "O"


def split_tag(tag: str) -> tuple[str, str]:
    """`B-ORG` -> ("B", "ORG"); `O` -> ("O", "")."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def bad_tag(tag: str, scheme: str) -> str | None:
    """Why `tag` is not a tag of `scheme`, or None."""
    if tag == OUTSIDE:
        return None
    prefix, kind = split_tag(tag)
    if len(prefix) != 1 or not kind:
        return f"'{tag}' is not of the form PREFIX-TYPE (e.g. B-ORG) or O"
    if prefix not in PREFIXES[scheme]:
        return f"'{tag}' has prefix {prefix}-, which {scheme.upper()} does not use (its prefixes: " \
               f"{', '.join(p + '-' for p in PREFIXES[scheme])})"
    return None


def spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity in one sentence's tags, read as conlleval does."""
    tags = ["I" + t[1:] if t.startswith("M-") else t for t in tags]  # BMES -> BIOES
    found, start = [], 0
    previous, previous_type = OUTSIDE, ""
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, kind = split_tag(tag)
        kind = kind or "_"
        if _ends(previous, prefix, previous_type, kind):
            found.append((previous_type, start, i - 1))
        if _starts(previous, prefix, previous_type, kind):
            start = i
        previous, previous_type = prefix, kind
    return found


def _ends(previous: str, prefix: str, previous_type: str, kind: str) -> bool:
    """Whether an entity ended on the word before (conlleval's endOfChunk)."""
    return (previous in ("E", "S") or (previous in ("B", "I") and prefix in ("B", "S", OUTSIDE))
            or (previous != OUTSIDE and previous_type != kind))


def _starts(previous: str, prefix: str, previous_type: str, kind: str) -> bool:
    """Whether an entity starts on this word (conlleval's startOfChunk)."""
    return (prefix in ("B", "S") or (previous in ("E", "S", OUTSIDE) and prefix in ("E", "I"))
            or (prefix != OUTSIDE and previous_type != kind))


def to_tags(entities: list[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """The tags of `length` words with these entities in `scheme` (iob2 or bioes)."""
    tags = [OUTSIDE] * length
    for kind, first, last in entities:
        if scheme == "bioes" and first == last:
            tags[first] = f"S-{kind}"
            continue
        tags[first] = f"B-{kind}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{kind}"
        if scheme == "bioes":
            tags[last] = f"E-{kind}"
    return tags


def convert(tags: list[str], scheme: str) -> list[str]:
    """One sentence's tags (any scheme) in `scheme`."""
    return to_tags(spans(tags), len(tags), scheme)


def allowed_transitions(labels: list[str], scheme: str) -> np.ndarray:
    """`(L + 1, L + 1)` bools: [i, j] whether label j may follow label i in `scheme` (iob2 or bioes);
    row L is the start of a sentence, column L its end (the table tensorflow_text's
    `viterbi_constrained_sequence` takes with start and end states)."""
    n = len(labels)
    allowed = np.zeros((n + 1, n + 1), dtype=bool)
    parts = [split_tag(label) for label in labels]
    for i, (p, kind) in enumerate([*parts, ("start", "")]):
        for j, (q, other) in enumerate([*parts, ("end", "")]):
            open_before = p in ("B", "I")  # an entity is open after i
            if q in ("I", "E"):  # continues (or closes) an entity: the open one, of its type
                allowed[i, j] = open_before and kind == other
            else:  # B-, S-, O or the end: in BIOES an open entity must close with E- first
                allowed[i, j] = not (scheme == "bioes" and open_before)
    return allowed
