"""Extractive question answering data: questions about a context, each answered by spans of that context.

    squad:PATH        SQuAD JSON (v1.1; DRCD and CMRC use the same layout): data[].paragraphs[].{context,
                      qas[].{id, question, answers[].{text, answer_start}}}; `?sample=N` keeps N questions
                      drawn with the fixed split seed (in file order)
    synthetic_qa      built-in short contexts about made-up people, places and years (no network)

SQuAD v2.0's unanswerable questions (`is_impossible: true`) are refused in one line: the span head
here always answers (v1.1's task). An answer whose `answer_start` does not point at its text (some
DRCD/CMRC files hold a few) is skipped and counted (`QASet.bad_answers`, reported in data.json); a
question left with no answer is dropped and counted too. A validation set is carved by article
(`carve_by_article`), never by question: questions about one paragraph stay on one side.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from tfmodels.data.examples import SPLIT_SEED
from tfmodels.data.specs import DataSpec, parse_spec
from tfmodels.errors import DataError

QA_KINDS = ("squad", "synthetic_qa")


@dataclass
class QASet:
    """Questions, each with its context and gold answers (text and character offset)."""

    questions: list[str]
    contexts: list[str]
    answers: list[list[tuple[str, int]]]  # (text, start character) a gold answer; the first one is trained on
    ids: list[str]
    articles: list[int]  # the article each question belongs to (carving keeps an article whole)
    source: str = ""
    bad_answers: int = 0  # answers skipped: their text is not at their answer_start
    dropped_questions: int = 0  # questions left with no usable answer

    def __len__(self) -> int:
        return len(self.questions)

    def subset(self, indices, source: str | None = None) -> "QASet":
        indices = list(indices)
        return QASet([self.questions[i] for i in indices], [self.contexts[i] for i in indices],
                     [self.answers[i] for i in indices], [self.ids[i] for i in indices],
                     [self.articles[i] for i in indices], source or self.source, self.bad_answers,
                     self.dropped_questions)

    def gold_texts(self) -> list[list[str]]:
        return [[text for text, _ in answers] for answers in self.answers]


def load_qa(text: str | DataSpec, role: str) -> QASet:
    """The question set a spec names (`role` is for messages)."""
    spec = text if isinstance(text, DataSpec) else parse_spec(text)
    if spec.kind not in QA_KINDS:
        raise DataError(f"data spec '{spec.text}': a question answerer reads squad:PATH (SQuAD JSON) or "
                        f"synthetic_qa, not {spec.kind}")
    unknown = sorted(set(spec.options) - {"sample"})
    if unknown:
        raise DataError(f"data spec '{spec.text}': unknown option '{unknown[0]}' (this kind takes: sample)")
    if spec.kind == "synthetic_qa":
        qa = synthetic_qa(role)
    else:
        if not os.path.isfile(spec.argument):
            raise DataError(f"data spec '{spec.text}': no file '{spec.argument}'")
        qa = read_squad(spec.argument)
    if "sample" in spec.options:  # N questions drawn with the split seed, in file order (a quick look at a large file)
        if not spec.options["sample"].isdigit() or int(spec.options["sample"]) < 1:
            raise DataError(f"data spec '{spec.text}': sample={spec.options['sample']!r} must be a positive integer")
        size = min(len(qa), int(spec.options["sample"]))
        qa = qa.subset(sorted(np.random.default_rng(SPLIT_SEED).permutation(len(qa))[:size].tolist()))
    return qa


def read_squad(path: str) -> QASet:
    """A SQuAD-format JSON file, checked: a malformed one names the file and the JSON path of the fault."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"'{path}' is not JSON (line {e.lineno}, column {e.colno}: {e.msg}); a squad: spec reads "
                        "SQuAD's layout {\"data\": [{\"paragraphs\": [...]}]}") from None
    except UnicodeDecodeError:
        raise DataError(f"'{path}' is not UTF-8 text; a squad: spec reads SQuAD JSON") from None
    questions, contexts, answers, ids, articles = [], [], [], [], []
    bad = dropped = 0

    def need(value, kind, where):
        if not isinstance(value, kind):
            name = {list: "a list", dict: "an object", str: "a string", int: "an integer"}[kind]
            raise DataError(f"'{path}': {where} should be {name}, got {type(value).__name__}; a squad: spec reads "
                            "data[].paragraphs[].{context, qas[].{id, question, answers[].{text, answer_start}}}")
        return value

    data = need(need(document, dict, "the top level").get("data"), list, "'data'")
    for a, article in enumerate(data):
        for p, paragraph in enumerate(need(need(article, dict, f"data[{a}]").get("paragraphs"), list,
                                           f"data[{a}].paragraphs")):
            where = f"data[{a}].paragraphs[{p}]"
            context = need(need(paragraph, dict, where).get("context"), str, f"{where}.context")
            if not context.strip():
                raise DataError(f"'{path}': {where}.context is empty; every paragraph needs the text its questions "
                                "are about")
            for q, qa in enumerate(need(paragraph.get("qas"), list, f"{where}.qas")):
                at = f"{where}.qas[{q}]"
                need(qa, dict, at)
                if qa.get("is_impossible"):
                    raise DataError(f"'{path}': {at} is unanswerable (is_impossible, SQuAD v2.0); this span head always "
                                    "answers (SQuAD v1.1): drop the unanswerable questions first")
                question = need(qa.get("question"), str, f"{at}.question")
                gold = []
                for g, answer in enumerate(need(qa.get("answers"), list, f"{at}.answers")):
                    need(answer, dict, f"{at}.answers[{g}]")
                    text = need(answer.get("text"), str, f"{at}.answers[{g}].text")
                    start = need(answer.get("answer_start"), int, f"{at}.answers[{g}].answer_start")
                    if text.strip() and context[start:start + len(text)] == text:
                        gold.append((text, start))
                    else:
                        bad += 1
                if not gold or not question.strip():
                    dropped += 1
                    continue
                questions.append(question.strip())
                contexts.append(context)
                answers.append(gold)
                ids.append(str(qa.get("id", f"{a}-{p}-{q}")))
                articles.append(a)
    if not questions:
        raise DataError(f"'{path}' holds no answerable questions ({bad} answer(s) whose text is not at their "
                        "answer_start)")
    return QASet(questions, contexts, answers, ids, articles, path, bad, dropped)


def carve_by_article(qa: QASet, fraction: float, seed: int = SPLIT_SEED) -> tuple[QASet, QASet]:
    """(train, validation): a seeded `fraction` of the articles held out (rounded, at least one), every
    question of an article on one side."""
    articles = sorted(set(qa.articles))
    if len(articles) < 2:
        raise DataError(f"'{qa.source}' has {len(articles)} article(s): too few to hold out a validation set by "
                        "article; give data.validation a spec")
    held = set(np.random.default_rng(seed).permutation(articles)[:max(1, round(len(articles) * fraction))].tolist())
    if len(held) >= len(articles):
        held = set(list(held)[:len(articles) - 1])
    train = [i for i, a in enumerate(qa.articles) if a not in held]
    validation = [i for i, a in enumerate(qa.articles) if a in held]
    return (qa.subset(train, f"{qa.source} (train carve)"),
            qa.subset(validation, f"{qa.source} ({len(held)} of {len(articles)} articles, seed {seed})"))


# --- built-in data: short contexts about made-up people, for demos and tests -------------------------
NAMES = ["Anna Berg", "Peter Blackburn", "Li Wei", "Maria Silva", "John Smith", "Sara Okafor", "Tom Hale", "Ines Duarte",
         "Omar Haddad", "Yuki Tanaka", "Lena Novak", "Ravi Iyer"]
CITIES = ["Paris", "Brussels", "Lagos", "Berlin", "Lisbon", "Kyoto", "Lima", "Oslo", "Cairo", "Quito", "Perth", "Dakar"]
JOBS = ["a baker", "a pilot", "a teacher", "a painter", "a doctor", "a farmer", "an engineer", "a writer"]
# (the sentence stating a fact, a question about it, the answer's field)
FACTS = [("{n} was born in {c} in {y} .", "Where was {n} born ?", "c"),
         ("{n} was born in {c} in {y} .", "When was {n} born ?", "y"),
         ("{n} worked as {j} for many years .", "What did {n} work as ?", "j"),
         ("{n} moved to {m} later .", "Where did {n} move to ?", "m")]


def synthetic_qa(role: str, articles: int = 120, seed: int = 0, people: int = 1) -> QASet:
    """Contexts of `people` people's facts, and questions about them: a set a small model learns in a minute,
    where answering needs the question (which person, which fact) and not only the context. The validation
    and test sets are other articles, drawn from other seeds."""
    rng = np.random.default_rng(seed + {"train": 0, "validation": 1, "test": 2}.get(role, 3))
    if role != "train":
        articles = max(8, articles // 4)
    questions, contexts, answers, ids, article_ids = [], [], [], [], []
    for a in range(articles):
        persons = [{"n": NAMES[i], "c": str(rng.choice(CITIES)), "y": str(int(rng.integers(1900, 2000))),
                   "j": str(rng.choice(JOBS)), "m": str(rng.choice(CITIES))}
                  for i in rng.choice(len(NAMES), people, replace=False)]
        sentences = sorted({template.format(**p) for p in persons for template, _, _ in FACTS})
        context = " ".join(sentences[i] for i in rng.permutation(len(sentences)))
        for p in persons:
            for k, (template, question, key) in enumerate(FACTS):
                sentence = template.format(**p)
                start = context.index(sentence) + sentence.index(p[key], len(p["n"]))
                questions.append(question.format(**p))
                contexts.append(context)
                answers.append([(p[key], start)])
                ids.append(f"{role}-{a}-{p['n']}-{k}")
                article_ids.append(a)
    return QASet(questions, contexts, answers, ids, article_ids, "synthetic_qa")


__all__ = ["QASet", "QA_KINDS", "carve_by_article", "load_qa", "read_squad", "synthetic_qa"]
