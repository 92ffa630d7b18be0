"""The baselines a tagger is measured beside, computed by the same code that scores the tagger.

Named entities: each word gets its most frequent tag in training (IOB2; ties: the tag seen first), an
unknown word `O` -- CoNLL-2003's own baseline idea. Semantic roles: each word gets the most frequent
role, in training, of words with its dependency relation and the same answer to "is it the predicate's
dependent?" (`O` for a pair never seen); the predicate itself is `V`.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from tfmodels.data.tag_schemes import OUTSIDE, convert
from tfmodels.data.tagging import PREDICATE_ROLE, TaggedSet


def _most_frequent(counts: dict) -> dict:
    return {key: counter.most_common(1)[0][0] for key, counter in counts.items()}


def most_frequent_tags(train: TaggedSet, tagged: TaggedSet) -> list[list[str]]:
    """Each word's most frequent training tag (IOB2), `O` for words training never saw."""
    counts = defaultdict(Counter)
    for words, tags in zip(train.words, train.tags):
        for word, tag in zip(words, convert(tags, "iob2")):
            counts[word][tag] += 1
    best = _most_frequent(counts)
    return [[best.get(word, OUTSIDE) for word in words] for words in tagged.words]


def _role_keys(tagged: TaggedSet, i: int) -> list[tuple[str, bool]]:
    predicate = tagged.predicates[i]
    return [(relation, head == predicate) for relation, head in zip(tagged.relations[i], tagged.heads[i])]


def most_frequent_roles(train: TaggedSet, tagged: TaggedSet) -> list[list[str]]:
    """Each word's most frequent training role given (dependency relation, is the predicate's dependent)."""
    counts = defaultdict(Counter)
    for i, roles in enumerate(train.tags):
        for w, (key, role) in enumerate(zip(_role_keys(train, i), roles)):
            if w != train.predicates[i]:
                counts[key][role] += 1
    best = _most_frequent(counts)
    return [[PREDICATE_ROLE if w == tagged.predicates[i] else best.get(key, OUTSIDE)
             for w, key in enumerate(_role_keys(tagged, i))] for i in range(len(tagged))]


def baseline_tags(train: TaggedSet, tagged: TaggedSet) -> list[list[str]]:
    """The baseline's tags of `tagged` (semantic roles or named entities, as the sets are)."""
    return (most_frequent_roles if train.srl else most_frequent_tags)(train, tagged)
