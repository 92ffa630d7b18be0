"""Predicting with an exported question answerer (a SavedModel whose outputs hold an `answer`), TensorFlow alone.

Each INPUT is "question<TAB>context", a text file of such lines, or a SQuAD-format data spec
(`squad:PATH`), whose gold answers are then scored (exact match and F1, as the published scripts).
Each answer prints as `answer  (score, probability)  [start:end]` with its character offsets into
the context; `--output FILE.jsonl` writes the n best of each question.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError

TAB = "\t"


@dataclass
class AnswerPredictions:
    questions: list[str]
    contexts: list[str]
    answers: list[str]
    scores: np.ndarray  # (B,) start + end logits of the answer
    probabilities: np.ndarray  # (B,) its share of a softmax over the n best
    starts: np.ndarray  # (B,) character offsets of the answer in its context (end exclusive)
    ends: np.ndarray
    n_best: list[list[dict]]  # each question's candidates: {"text", "score", "start", "end"}, best first
    windows: np.ndarray  # (B,) windows each context was read in
    gold: list[list[str]] | None = None  # from a data spec
    language: str = "en"

    def __len__(self) -> int:
        return len(self.questions)

    def records(self) -> list[dict]:
        rows = []
        for i in range(len(self)):
            row = {"index": i, "question": self.questions[i], "answer": self.answers[i],
                   "score": float(self.scores[i]), "probability": float(self.probabilities[i]),
                   "start": int(self.starts[i]), "end": int(self.ends[i]), "windows": int(self.windows[i]),
                   "n_best": self.n_best[i]}
            if self.gold is not None:
                row["gold"] = self.gold[i]
            rows.append(row)
        return rows

    def scores_against_gold(self) -> dict | None:
        if self.gold is None:
            return None
        from tfmodels.tasks.qa_metrics import answer_scores

        return answer_scores(self.gold, self.answers, self.language)

    def lines(self, max_rows: int = 20) -> list[str]:
        rows = len(self) if max_rows == 0 else min(max_rows, len(self))
        out = []
        for i in range(rows):
            out.append(f"{i:7d}  {self.questions[i]}")
            out.append(f"         -> {self.answers[i]}  ({self.scores[i]:.2f}, p={self.probabilities[i]:.2f})  "
                       f"[{self.starts[i]}:{self.ends[i]}]" + (f"  gold: {' | '.join(self.gold[i])}" if self.gold else ""))
        if rows < len(self):
            out.append(f"... {len(self) - rows} more (--max-rows 0 prints all)")
        scores = self.scores_against_gold()
        if scores is not None:
            out.append(f"exact match {scores['exact_match']:.4f}, F1 {scores['f1']:.4f} on {len(self)} questions")
        return out


class QAModel:
    """A question answerer's serving function (an export's `serving_default`, or a run's own):
    questions and contexts -> answers. `fn(question=..., context=...)` returns the export's outputs."""

    def __init__(self, fn, max_question_tokens: int, language: str = "en", loaded=None):
        self._fn, self.max_question_tokens, self.language = fn, max_question_tokens, language
        self.loaded = loaded  # an export's loaded object: kept, the signature needs it alive

    @classmethod
    def of_export(cls, loaded, export_info: dict) -> "QAModel":
        return cls(loaded.signatures["serving_default"], export_info.get("max_question_tokens", 64),
                   export_info.get("language", "en"), loaded)

    def __call__(self, questions, contexts=None, batch_size: int = 32) -> AnswerPredictions:
        """`questions` and `contexts`: strings or lists of them; or `questions` alone as "question<TAB>context"
        strings, or (question, context) pairs."""
        if contexts is None:
            questions, contexts = split_questions(questions)
        if isinstance(questions, str):
            questions, contexts = [questions], [contexts] if isinstance(contexts, str) else contexts
        questions, contexts = list(questions), list(contexts)
        if len(questions) != len(contexts):
            raise DataError(f"{len(questions)} questions but {len(contexts)} contexts; give one context a question")
        if not questions:
            raise DataError("the input holds no questions")
        for i, (q, c) in enumerate(zip(questions, contexts)):
            if not q.strip():
                raise DataError(f"question {i} is empty")
            if not c.strip():
                raise DataError(f"question {i} ('{q[:60]}'): its context is empty; an answer is a span of the context")
        out = {}
        for first in range(0, len(questions), batch_size):
            part = self._fn(question=tf.constant(questions[first:first + batch_size]),
                            context=tf.constant(contexts[first:first + batch_size]))
            for key, value in part.items():
                out.setdefault(key, []).append(value.numpy())
        out = {key: np.concatenate(values) for key, values in out.items()}
        cut = np.flatnonzero(out["question_cut"])
        if len(cut):
            raise DataError(f"question {cut[0]} ('{questions[cut[0]][:60]}') is longer than the "
                            f"{self.max_question_tokens} sub-words this model reads (data.qa.max_question_tokens)"
                            f"{f', and {len(cut) - 1} more' if len(cut) > 1 else ''}; shorten it")
        text = lambda b: b.decode("utf-8")  # noqa: E731
        n_best = [[{"text": text(a), "score": float(s), "start": int(b), "end": int(e)}
                   for a, s, b, e in zip(*(out[k][i] for k in ("n_best_answers", "n_best_scores", "n_best_starts",
                                                               "n_best_ends"))) if b >= 0]
                  for i in range(len(questions))]
        return AnswerPredictions(questions, contexts, [text(a) for a in out["answer"]], out["score"],
                                 out["probability"], out["start"], out["end"], n_best, out["windows"],
                                 language=self.language)


def split_questions(inputs) -> tuple[list[str], list[str]]:
    """"question<TAB>context" strings (or (question, context) pairs) -> (questions, contexts)."""
    if isinstance(inputs, str):
        inputs = [inputs]
    questions, contexts = [], []
    for item in inputs:
        if isinstance(item, str):
            question, tab, context = item.partition(TAB)
            if not tab:
                raise DataError(f"a question answerer reads 'question<TAB>context' (a tab between); got {item[:60]!r}")
        else:
            question, context = item
        questions.append(question.strip())
        contexts.append(context.strip())
    return questions, contexts


def predict_answers(loaded, export_info: dict, arguments: list[str], as_text: bool = False) -> AnswerPredictions:
    """Runs an exported question answerer on every INPUT (see the module's docstring); inputs that are all
    squad: specs are scored against their gold answers."""
    from tfmodels.data.qa import QA_KINDS, load_qa

    model = QAModel.of_export(loaded, export_info)
    questions, contexts, gold = [], [], []
    for argument in arguments:
        kind = argument.partition(":")[0].partition("?")[0].strip().lower()
        if not as_text and kind in QA_KINDS and not os.path.exists(argument):
            qa = load_qa(argument, "test")
            questions += qa.questions
            contexts += qa.contexts
            gold = None if gold is None else gold + qa.gold_texts()
            continue
        if not as_text and os.path.isfile(argument):
            with open(argument, encoding="utf-8") as f:
                lines = [line.rstrip("\n") for line in f if line.strip()]
            if not lines:
                raise DataError(f"'{argument}' holds no questions")
        else:
            lines = [argument]
        q, c = split_questions(lines)
        questions += q
        contexts += c
        gold = None
    result = model(questions, contexts)
    result.gold = gold or None
    return result


__all__ = ["AnswerPredictions", "QAModel", "predict_answers", "split_questions"]
