"""Predicting with an exported token classifier (a SavedModel whose outputs are words and `tags`), TensorFlow alone.

Each INPUT is a sentence (its words split as the model was trained: on whitespace, or one character a
word), a text file of sentences (one a line), or a tagged data spec (`conll:PATH`, `conllu:PATH`), whose
gold tags are then scored. A semantic-role model takes the predicate's word index too (`--predicate N`
for sentences; a `conllu:` spec gives one example a predicate). Entities print as `[ORG European
Commission] said ...`; role frames as `nominated: [ARG0 Bush] [ARG1 individuals]`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf

from tfmodels.data.tag_schemes import OUTSIDE, spans
from tfmodels.data.tagging import PREDICATE_ROLE, TAG_KINDS, TaggedSet, load_tagged
from tfmodels.errors import DataError


@dataclass
class TagPredictions:
    words: list[list[str]]
    tags: list[list[str]]
    predicates: list[int] | None = None  # semantic roles: each example's predicate word
    cut_words: list[int] | None = None  # words beyond the sequence length (tagged O), per example
    gold: list[list[str]] | None = None  # from a tagged data spec

    def __len__(self) -> int:
        return len(self.words)

    def entities(self, i: int) -> list[dict]:
        """Example i's entities (named entities) or arguments (roles): type, words, first and last word."""
        if self.predicates is not None:
            return [{"type": role, "text": self.words[i][w], "start": w, "end": w}
                    for w, role in enumerate(self.tags[i]) if role not in (OUTSIDE, PREDICATE_ROLE)]
        return [{"type": kind, "text": " ".join(self.words[i][a:b + 1]), "start": a, "end": b}
                for kind, a, b in spans(self.tags[i])]

    def bracketed(self, i: int) -> str:
        """`[ORG European Commission] said ...`; for roles, `predicate: [ARG0 Bush] [ARG1 individuals]`."""
        if self.predicates is not None:
            frame = " ".join(f"[{e['type']} {e['text']}]" for e in self.entities(i))
            return f"{self.words[i][self.predicates[i]]}: {frame or '(no arguments)'}"
        pieces, at = [], 0
        for e in self.entities(i):
            pieces += self.words[i][at:e["start"]] + [f"[{e['type']} {e['text']}]"]
            at = e["end"] + 1
        return " ".join(pieces + self.words[i][at:])

    def records(self) -> list[dict]:
        rows = []
        for i in range(len(self)):
            row = {"index": i, "words": self.words[i], "tags": self.tags[i], "entities": self.entities(i)}
            if self.predicates is not None:
                row["predicate"] = self.predicates[i]
            if self.cut_words is not None and self.cut_words[i]:
                row["cut_words"] = self.cut_words[i]
            if self.gold is not None:
                row["gold"] = self.gold[i]
            rows.append(row)
        return rows

    def scores(self) -> dict | None:
        """Entity (or argument) precision, recall and F1 against the gold tags of a data spec."""
        if self.gold is None:
            return None
        from tfmodels.tasks.tagging_metrics import entity_scores, role_scores

        return (role_scores if self.predicates is not None else entity_scores)(self.gold, self.tags)

    def lines(self, max_rows: int = 20) -> list[str]:
        rows = len(self) if max_rows == 0 else min(max_rows, len(self))
        out = [f"{i:7d}  {self.bracketed(i)}" + (f"  ({self.cut_words[i]} word(s) cut, tagged O)"
                                                 if self.cut_words and self.cut_words[i] else "")
               for i in range(rows)]
        if rows < len(self):
            out.append(f"... {len(self) - rows} more (--max-rows 0 prints all)")
        scores = self.scores()
        if scores is not None:
            unit = "argument" if self.predicates is not None else "entity"
            out.append(f"{unit} F1 {scores['f1']:.4f} (precision {scores['precision']:.4f}, recall "
                       f"{scores['recall']:.4f}) on {len(self)} examples")
        return out


class TaggerModel:
    """A tagger's serving function (an export's `serving_default`, or a run's own): sentences [and
    predicates] -> words and tags. `fn(text=..., predicate=...)` returns the export's outputs."""

    def __init__(self, fn, srl: bool, words: str = "whitespace", loaded=None):
        self._fn, self.srl, self.words = fn, srl, words
        self.loaded = loaded  # an export's loaded object: kept, the signature needs it alive

    @classmethod
    def of_export(cls, loaded, export_info: dict) -> "TaggerModel":
        fn = loaded.signatures["serving_default"]
        return cls(fn, "predicate" in fn.structured_input_signature[1],
                   export_info.get("input", {}).get("words", "whitespace"), loaded)

    def __call__(self, sentences, predicates=None, batch_size: int = 256) -> TagPredictions:
        """`sentences`: strings, or lists of words (joined as the model splits them); `predicates`: one
        word index a sentence (or one for all) for a semantic-role model."""
        if isinstance(sentences, str):
            sentences = [sentences]
        joiner = "" if self.words == "characters" else " "
        sentences = [s if isinstance(s, str) else joiner.join(s) for s in sentences]
        if isinstance(predicates, int):
            predicates = [predicates] * len(sentences)
        if not sentences:
            raise DataError("the input holds no sentences")
        for i, sentence in enumerate(sentences):
            if not sentence.strip():
                raise DataError(f"sentence {i} is empty: a tagger needs at least one word")
        if self.srl and predicates is None:
            raise DataError("this model labels the semantic roles of a predicate: give its word index (--predicate N, "
                            "counting from 0), or a conllu: spec")
        words, tags, cut = [], [], []
        for first in range(0, len(sentences), batch_size):
            feeds = {"text": tf.constant(sentences[first:first + batch_size])}
            if self.srl:
                feeds["predicate"] = tf.constant(predicates[first:first + batch_size], tf.int32)
            out = self._fn(**feeds)
            for row_words, row_tags, n, c in zip(out["words"].numpy(), out["tags"].numpy(), out["word_count"].numpy(),
                                                 out["cut_words"].numpy()):
                words.append([w.decode("utf-8") for w in row_words[:n]])
                tags.append([t.decode("utf-8") for t in row_tags[:n]])
                cut.append(int(c))
        if self.srl:
            for i, (p, w) in enumerate(zip(predicates, words)):
                if not 0 <= p < len(w):
                    raise DataError(f"sentence {i} has {len(w)} words; the predicate index {p} is not one of them "
                                    f"(0 to {len(w) - 1})")
        return TagPredictions(words, tags, list(predicates) if self.srl else None, cut)


def predict_tags(loaded, export_info: dict, arguments: list[str], as_text: bool = False,
                 predicate: int | None = None) -> TagPredictions:
    """Runs an exported tagger on every INPUT (see the module's docstring); inputs that are all tagged
    data specs are scored against their gold tags."""
    model = TaggerModel.of_export(loaded, export_info)
    sentences, predicates, gold = [], [], []
    for argument in arguments:
        tagged = None if as_text else _tagged_spec(argument)
        if tagged is not None:
            joiner = "" if model.words == "characters" else " "
            sentences += [joiner.join(w) for w in tagged.words]
            predicates += tagged.predicates or [0] * len(tagged)
            gold = None if gold is None else gold + tagged.tags
            continue
        if not as_text and os.path.isfile(argument):
            with open(argument, encoding="utf-8") as f:
                lines = [line.strip() for line in f if line.strip()]
            if not lines:
                raise DataError(f"'{argument}' holds no sentences")
        else:
            lines = [argument]
        sentences += lines
        predicates += [-1 if predicate is None else predicate] * len(lines)
        gold = None  # not every input has gold tags
    result = model(sentences, None if any(p < 0 for p in predicates) else predicates)
    result.gold = gold or None
    return result


def _tagged_spec(argument: str) -> TaggedSet | None:
    from tfmodels.data.specs import parse_spec

    kind = argument.partition(":")[0].strip().lower()
    if kind not in TAG_KINDS or os.path.exists(argument):
        return None
    from tfmodels.data.tagging import ReadOptions

    spec = parse_spec(argument)
    return load_tagged(spec, "test", ReadOptions(learn_scheme="iob2"))


__all__ = ["TagPredictions", "TaggerModel", "predict_tags"]
