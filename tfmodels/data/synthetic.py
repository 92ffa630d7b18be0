"""Synthetic movie reviews whose sentiment depends on word order and scope. Generated, not collected.

A review is one clause ("the plot is really dull"), or two clauses joined by "but", where the
second clause decides ("the plot is not dull but the acting is weak" is negative). A clause may be
negated ("not dull" is positive). Positive (1) or negative (0).

Why a bag of words cannot solve it: in "X but not Y" and "not X but Y" the same words appear; only
their order says which clause decides and which adjective "not" belongs to. A model that sees
the set of words can do no better than about 0.70 on this mix (the best guess per bag of words,
computed in tests/data/test_text_data.py), while a model that attends to order can reach 1.0.
"""

from __future__ import annotations

import functools

import numpy as np

POSITIVE = ["good", "great", "brilliant", "lovely", "moving", "clever", "fun", "superb", "charming", "gripping",
            "funny", "beautiful"]
NEGATIVE = ["bad", "boring", "dull", "awful", "weak", "silly", "clumsy", "tedious", "bland", "messy",
            "predictable", "ugly"]
SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the story", "the ending", "the cast", "the script",
            "the music", "the pacing", "the dialogue", "the camera work"]
ADVERBS = ["", "", "really", "very", "quite", "rather", "truly", "pretty"]
OPENERS = ["", "", "", "honestly ,", "i think", "overall ,", "to be fair ,", "in short ,"]
SINGLE_CLAUSE_SHARE = 0.2
SPLIT_SIZES = {"train": 20_000, "validation": 2_000, "test": 2_000}
SEED = 20_261_122


def _clause(rng: np.random.Generator) -> tuple[str, int]:
    positive = rng.random() < 0.5
    negated = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive else NEGATIVE)
    words = [rng.choice(SUBJECTS), "is", "not" if negated else "", rng.choice(ADVERBS), adjective]
    return " ".join(w for w in words if w), int(positive != negated)


def review(rng: np.random.Generator) -> tuple[str, int]:
    """One review and its label (1 positive, 0 negative)."""
    opener = rng.choice(OPENERS)
    first, label = _clause(rng)
    if rng.random() >= SINGLE_CLAUSE_SHARE:
        second, label = _clause(rng)  # the clause after "but" decides
        first = f"{first} but {second}"
    return (f"{opener} {first}" if opener else first), label


def synthetic_reviews(split: str, size: int | None = None, seed: int = SEED) -> tuple[list[str], np.ndarray]:
    """The texts and labels of one split; splits are disjoint (no review text is in two splits)."""
    texts, labels, sizes = _all_splits(size, seed)
    start = {"train": 0, "validation": sizes["train"], "test": sizes["train"] + sizes["validation"]}[split]
    end = start + sizes[split]
    return list(texts[start:end]), np.array(labels[start:end], dtype=np.int32)


@functools.lru_cache(maxsize=4)
def _all_splits(size: int | None, seed: int) -> tuple[tuple[str, ...], tuple[int, ...], dict]:
    """Every split's reviews in one draw (cached: a run asks for its three splits one by one)."""
    sizes = dict(SPLIT_SIZES)
    if size is not None:
        sizes = {name: (size if name == "train" else max(size // 10, 1)) for name in sizes}
    rng = np.random.default_rng(seed)
    seen: dict[str, int] = {}
    total = sum(sizes.values())
    for _ in range(total * 20):  # the space of reviews is far larger than any split
        text, label = review(rng)
        seen.setdefault(text, label)
        if len(seen) == total:
            break
    return tuple(seen), tuple(seen.values()), sizes


# --- sentence pairs: does the second sentence repeat the first? ----------------------------------
#
# Sentence a is a review; b is a repeated (1), or a with one adjective changed, or another review (0).
# Each sentence alone is a well-formed review for both labels, so a model that reads one of them scores 0.5: only
# reading the two together (the pair, with segment ids) can tell.

PAIR_SPLIT_SIZES = {"train": 8_000, "validation": 1_000, "test": 1_000}
PAIR_SEED = 20_261_203
ONE_WORD_CHANGED_SHARE = 0.25  # of the non-repeats: a with one adjective replaced; the rest another review


def _changed_word(rng: np.random.Generator, sentence: str) -> str:
    """`sentence` with one of its adjectives replaced by another (still a well-formed review)."""
    words = sentence.split()
    adjectives = POSITIVE + NEGATIVE
    i = rng.choice([i for i, w in enumerate(words) if w in adjectives])
    words[i] = rng.choice([w for w in adjectives if w != words[i]])
    return " ".join(words)


def synthetic_pairs(split: str, size: int | None = None, seed: int = PAIR_SEED) -> tuple[list[str], list[str], np.ndarray]:
    """(first sentences, second sentences, labels) of one split; 1 when the second repeats the first.
    Splits share no first sentence."""
    sizes = dict(PAIR_SPLIT_SIZES)
    if size is not None:
        sizes = {name: (size if name == "train" else max(size // 10, 1)) for name in sizes}
    texts, _, _ = _all_splits(sum(sizes.values()), seed)  # distinct reviews: the first sentences
    rng = np.random.default_rng(seed + 1)
    start = {"train": 0, "validation": sizes["train"], "test": sizes["train"] + sizes["validation"]}[split]
    firsts = list(texts[start:start + sizes[split]])
    seconds, labels = [], []
    for a in firsts:
        if rng.random() < 0.5:
            seconds.append(a)
            labels.append(1)
        else:
            other = texts[int(rng.integers(len(texts)))]
            seconds.append(_changed_word(rng, a) if rng.random() < ONE_WORD_CHANGED_SHARE or other == a else other)
            labels.append(0)
    return firsts, seconds, np.array(labels, dtype=np.int32)


# --- instructions: prompt/response pairs for instruction tuning a causal LM ---------------------------
#
# Two kinds of request about a synthetic review, half each: its sentiment ("positive" / "negative", by the
# rules above), and its words in reverse order. The answers are a function of the prompt, so a model can
# learn them exactly; a response is far shorter than its prompt for the first kind, as in real data.

INSTRUCTION_SPLIT_SIZES = {"train": 4_000, "validation": 400, "test": 400}
INSTRUCTION_SEED = 20_261_204


def synthetic_instructions(split: str, size: int | None = None,
                           seed: int = INSTRUCTION_SEED) -> tuple[list[str], list[str]]:
    """(prompts, responses) of one split; splits share no review."""
    sizes = dict(INSTRUCTION_SPLIT_SIZES)
    if size is not None:
        sizes = {name: (size if name == "train" else max(size // 10, 1)) for name in sizes}
    texts, labels, _ = _all_splits(sum(sizes.values()), seed)
    start = {"train": 0, "validation": sizes["train"], "test": sizes["train"] + sizes["validation"]}[split]
    rng = np.random.default_rng(seed + 1 + start)
    prompts, responses = [], []
    for review, label in zip(texts[start:start + sizes[split]], labels[start:start + sizes[split]]):
        if rng.random() < 0.5:
            prompts.append(f"is this review positive or negative? {review}")
            responses.append("positive" if label else "negative")
        else:
            prompts.append(f"reverse the words: {review}")
            responses.append(" ".join(reversed(review.split())))
    return prompts, responses
