"""Scores of tagged words: entities (named entities) and arguments (semantic roles).

Entities are scored as seqeval's default mode and conlleval score them: an entity counts when its
type, first and last word all equal a gold entity's (spans read by `tag_schemes.spans`, so an `I-`
with no `B-` before it starts one). Precision, recall and F1 overall are micro-averaged over every
entity; per type, over that type's. Semantic roles are scored PropBank-style on head words: an
argument is (example, word, role), `V` (the predicate itself) and `O` are not arguments.
"""

from __future__ import annotations

from collections import Counter

from tfmodels.data.tag_schemes import OUTSIDE, spans
from tfmodels.data.tagging import PREDICATE_ROLE


def _prf(correct: int, predicted: int, gold: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold, "predicted": predicted,
            "correct": correct}


def _scores(gold: set, predicted: set, kind_of) -> dict:
    """Micro P/R/F1 of two sets of items, and per kind (`kind_of(item)`), kinds sorted by name."""
    correct = gold & predicted
    count = lambda items: Counter(kind_of(item) for item in items)  # noqa: E731
    g, p, c = count(gold), count(predicted), count(correct)
    result = _prf(len(correct), len(predicted), len(gold))
    result["per_type"] = {kind: _prf(c[kind], p[kind], g[kind]) for kind in sorted(set(g) | set(p))}
    return result


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Entity-level precision, recall, F1 (micro) and per type, of sentences of tags."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    entities = lambda sentences: {(i, *span) for i, tags in enumerate(sentences) for span in spans(tags)}  # noqa: E731
    return _scores(entities(gold), entities(predicted), kind_of=lambda item: item[1])


ERROR_KINDS = ("correct", "wrong type", "wrong boundaries", "missed", "false alarm")


def entity_errors(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """{gold type: {kind: count}}: each gold entity found (`correct`), found with another type (`wrong type`:
    the same words), overlapped by a prediction of other boundaries (`wrong boundaries`), or `missed`; and
    by predicted type, predictions that overlap no gold entity (`false alarm`)."""
    table = {}

    def count(kind: str, what: str) -> None:
        table.setdefault(kind, dict.fromkeys(ERROR_KINDS, 0))[what] += 1

    for gold_tags, predicted_tags in zip(gold, predicted):
        found = spans(predicted_tags)
        for kind, a, b in spans(gold_tags):
            if (kind, a, b) in found:
                count(kind, "correct")
            elif any((x, y) == (a, b) for _, x, y in found):
                count(kind, "wrong type")
            elif any(x <= b and a <= y for _, x, y in found):
                count(kind, "wrong boundaries")
            else:
                count(kind, "missed")
        truth = spans(gold_tags)
        for kind, a, b in found:
            if not any(x <= b and a <= y for _, x, y in truth):
                count(kind, "false alarm")
    return dict(sorted(table.items()))


def role_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Argument-level precision, recall, F1 (micro) and per role, of examples of one role a word
    (one example a predicate): (example, word, role) triples, `V` and `O` left out."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold examples but {len(predicted)} predicted")
    arguments = lambda examples: {(i, w, role) for i, roles in enumerate(examples)  # noqa: E731
                                  for w, role in enumerate(roles) if role not in (OUTSIDE, PREDICATE_ROLE)}
    return _scores(arguments(gold), arguments(predicted), kind_of=lambda item: item[2])


def format_scores(title: str, result: dict, unit: str = "entity") -> str:
    """The scores as a table: overall, then one row a type."""
    lines = [f"{title}: {unit} precision {result['precision']:.4f}, recall {result['recall']:.4f}, "
             f"F1 {result['f1']:.4f} ({result['correct']} of {result['support']} gold, {result['predicted']} "
             "predicted)", f"{'type':<14} precision  recall      f1  support"]
    for kind, row in result["per_type"].items():
        lines.append(f"{kind:<14} {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7d}")
    return "\n".join(lines)
