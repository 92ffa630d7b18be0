"""The n-gram baselines beside a language model's perplexity: probabilities that sum to one, counted by hand."""

import math

import numpy as np
import pytest

from benchmarks.ngram import bigram_cross_entropy, unigram_cross_entropy


def test_unigram_is_add_one_smoothed_counts():
    train = np.array([0, 0, 1, 2, 0])
    counts = np.array([3, 1, 1, 0]) + 1  # a vocabulary of 4; token 3 never seen
    validation = np.array([2, 0, 1, 3])  # the first token is context only: 0, 1 and 3 are predicted
    expected = -np.mean(np.log(counts[[0, 1, 3]] / counts.sum()))
    assert unigram_cross_entropy(train, validation, 4) == pytest.approx(expected)


def test_bigram_is_interpolated_kneser_ney_and_a_distribution_after_every_context():
    rng = np.random.default_rng(0)
    train, v = rng.integers(0, 6, 400), 6
    for a in range(v):  # p(. | a) over the vocabulary sums to one (seen and unseen contexts alike)
        total = sum(math.exp(-bigram_cross_entropy(train, np.array([a, b]), v)) for b in range(v))
        assert total == pytest.approx(1.0, abs=1e-6)
    unseen = np.array([7, 1])  # context 7 never seen: the continuation probability of token 1
    contexts_of_1 = len({int(x) for x, y in zip(train[:-1], train[1:]) if y == 1})
    all_contexts = sum(len({int(x) for x, y in zip(train[:-1], train[1:]) if y == b}) for b in range(v))
    assert bigram_cross_entropy(train, unseen, 8) == pytest.approx(-math.log(contexts_of_1 / all_contexts), rel=1e-6)
    # By hand for one pair: (c(a,b) - d + d * N1+(a,.) * p_cont(b)) / c(a,.)
    a, b = 2, 3
    c_ab = sum(1 for x, y in zip(train[:-1], train[1:]) if (x, y) == (a, b))
    c_a = sum(1 for x in train[:-1] if x == a)
    followers = len({int(y) for x, y in zip(train[:-1], train[1:]) if x == a})
    contexts_of_b = len({int(x) for x, y in zip(train[:-1], train[1:]) if y == b})
    p = (max(c_ab - 0.75, 0) + 0.75 * followers * contexts_of_b / all_contexts) / c_a
    assert bigram_cross_entropy(train, np.array([a, b]), v) == pytest.approx(-math.log(p), rel=1e-6)


def test_context_helps_on_text_with_structure():
    pattern = np.tile(np.array([0, 1, 2, 3, 4]), 200)  # each token fixes the next
    assert bigram_cross_entropy(pattern, pattern[:50], 5) < 0.1 < unigram_cross_entropy(pattern, pattern[:50], 5)
