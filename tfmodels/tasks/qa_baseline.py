"""The sliding-window baseline of the SQuAD paper (Rajpurkar et al., 2016, after Richardson et al., 2013),
scored by the same code as the models: what reading the question's words in the context, without
learning, gets.

Each candidate answer is a span of 1 to `MAX_WORDS` words of the context (words as the packer splits
them: a CJK character is a word) that holds no question word and no punctuation, and neither starts nor ends with an English
function word. It scores the words
of the question found in a window around it (`WINDOW` words on each side, the candidate excluded),
each weighted by its inverse count in the context, log(1 + 1/count) (Richardson's IC). The best score
answers; ties go to the shorter and then the earlier span. The paper's candidates are the parser's
constituents; here there is no parser, so every short span is one.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

from tfmodels.data.qa import QASet
from tfmodels.data.qa_packer import split_with_offsets

MAX_WORDS = 4
# A span starting or ending with one of these is no candidate (a constituent rarely does).
FUNCTION_WORDS = set("a an the of in on at to for by with from and or but as is are was were be been it its this that "
                     "these those which who whom what when where why how if than then there their his her he she they "
                     "we i you not no".split())
WINDOW = 8
BATCH = 256


def _words(texts: list[str]) -> list[list[tuple[str, int, int]]]:
    """(word lower-cased, begin byte, end byte) of each text's words."""
    out = []
    for first in range(0, len(texts), BATCH):
        words, begin, end = split_with_offsets(texts[first:first + BATCH])
        for w, b, e in zip(words.to_list(), begin.to_list(), end.to_list()):
            out.append([(x.decode("utf-8").lower(), int(s), int(t)) for x, s, t in zip(w, b, e)])
    return out


def _is_punctuation(word: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PS" for ch in word)


def sliding_window_answers(qa: QASet) -> list[str]:
    """The baseline's answer to every question of `qa`."""
    questions, contexts = _words(qa.questions), _words(qa.contexts)
    predicted = []
    for question, context, text in zip(questions, contexts, qa.contexts):
        asked = {w for w, _, _ in question if not _is_punctuation(w)}
        counts = Counter(w for w, _, _ in context)
        weight = [math.log(1 + 1 / counts[w]) if w in asked else 0.0 for w, _, _ in context]
        best, answer = None, ""
        for length in range(1, MAX_WORDS + 1):
            for i in range(len(context) - length + 1):
                span = context[i:i + length]
                if any(w in asked or _is_punctuation(w) for w, _, _ in span) or span[0][0] in FUNCTION_WORDS \
                        or span[-1][0] in FUNCTION_WORDS:
                    continue
                score = sum(weight[max(0, i - WINDOW):i]) + sum(weight[i + length:i + length + WINDOW])
                if best is None or score > best:
                    raw = text.encode("utf-8")
                    best, answer = score, raw[span[0][1]:span[-1][2]].decode("utf-8")
        predicted.append(answer)
    return predicted


__all__ = ["sliding_window_answers"]
