"""Exact match and F1 of predicted answers against gold answers, as the published evaluation scripts define them.

English (`language="en"`): SQuAD v1.1's `evaluate-v1.1.py`. Both answers are normalised (lower case,
punctuation removed, the articles a/an/the removed, whitespace collapsed); exact match is equality
after that, F1 the overlap of the two bags of words; each question takes the best over its gold
answers, and a set the mean over its questions.

Chinese (`language="zh"`): CMRC 2018's `cmrc2018_evaluate.py` (which DRCD results use). Each CJK
character is a unit and each run of other characters is split into words; F1 is over the longest
common *substring* of units (not a bag), without the listed punctuation; exact match compares the
texts lower-cased without that punctuation. The script splits the non-CJK runs with NLTK's
`word_tokenize`; here a run splits into words and single punctuation marks (`\\w+|[^\\w\\s]`), which
agrees on the digits and Latin words DRCD's answers hold (no NLTK dependency).
"""

from __future__ import annotations

import re
import string
from collections import Counter

ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = set(string.punctuation)
# cmrc2018_evaluate.py's sp_char: the marks its F1 and exact match drop ("……" is two characters, as there).
CMRC_PUNCTUATION = ["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！", "“", "”", "；",
                    "’", "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』"]
CJK = re.compile(r"[\u4e00-\u9fa5]")
NON_CJK_WORDS = re.compile(r"\w+|[^\w\s]")


# --- SQuAD v1.1 -------------------------------------------------------------------------------------

def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (evaluate-v1.1.py's normalize_answer)."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def squad_exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


# --- CMRC 2018 / DRCD -------------------------------------------------------------------------------

def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """CJK characters one a unit, other runs split into words (cmrc2018_evaluate.py's mixed_segmentation)."""
    units, run = [], ""
    for ch in str(text).lower().strip():
        if remove_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if CJK.match(ch) or ch in CMRC_PUNCTUATION:
            units += NON_CJK_WORDS.findall(run)
            run = ""
            units.append(ch)
        else:
            run += ch
    return units + NON_CJK_WORDS.findall(run)


def without_punctuation(text: str) -> str:
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def longest_common_substring(a: list[str], b: list[str]) -> int:
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def cmrc_f1(prediction: str, gold: str) -> float:
    predicted, expected = mixed_segmentation(prediction, True), mixed_segmentation(gold, True)
    same = longest_common_substring(expected, predicted)
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def cmrc_exact_match(prediction: str, gold: str) -> float:
    return float(without_punctuation(prediction) == without_punctuation(gold))


# --- a set of questions ----------------------------------------------------------------------------

METRICS = {"en": (squad_exact_match, squad_f1), "zh": (cmrc_exact_match, cmrc_f1)}


def answer_scores(gold: list[list[str]], predicted: list[str], language: str = "en") -> dict:
    """{"exact_match", "f1", "questions"}: means over the questions of the best over each one's gold answers
    (fractions in [0, 1]; the scripts print them times 100)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} questions with gold answers but {len(predicted)} predictions")
    exact, f1 = METRICS[language]
    n = max(1, len(gold))
    return {"exact_match": sum(max(exact(p, g) for g in golds) for golds, p in zip(gold, predicted)) / n,
            "f1": sum(max(f1(p, g) for g in golds) for golds, p in zip(gold, predicted)) / n,
            "questions": len(gold)}


def text_language(texts: list[str]) -> str:
    """"zh" when most of the characters of `texts` (a sample) are CJK, else "en"."""
    sample = "".join(texts[:200])
    letters = [ch for ch in sample if not ch.isspace()]
    return "zh" if letters and sum(bool(CJK.match(ch)) for ch in letters) > len(letters) / 2 else "en"


__all__ = ["answer_scores", "cmrc_exact_match", "cmrc_f1", "mixed_segmentation", "normalize_answer",
           "squad_exact_match", "squad_f1", "text_language"]
