"""Baselines for a language model's perplexity: a unigram and a bigram model on the same token ids.

Both are fitted on the training stream and score the validation stream as `tfmodels evaluate`
does: every token but the first predicted once. The unigram model is add-one smoothed counts
(the best model with no context); the bigram model is interpolated Kneser-Ney (Chen & Goodman
1998, discount 0.75): the bigram count less the discount, plus the discounted mass spread by the
continuation probability of the token (in how many contexts it was seen), so that every token has a
probability after any context.
"""

from __future__ import annotations

import numpy as np


def unigram_cross_entropy(train: np.ndarray, validation: np.ndarray, vocabulary_size: int) -> float:
    """Mean -ln p(token) over validation[1:], with add-one smoothed training counts."""
    counts = np.bincount(train, minlength=vocabulary_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[validation[1:]].mean())


def bigram_cross_entropy(train: np.ndarray, validation: np.ndarray, vocabulary_size: int,
                         discount: float = 0.75) -> float:
    """Mean -ln p(token | previous token) over validation[1:], interpolated Kneser-Ney."""
    v = vocabulary_size
    pairs = np.bincount(train[:-1].astype(np.int64) * v + train[1:], minlength=v * v).reshape(v, v)  # c(a, b)
    seen = pairs > 0
    continuation = seen.sum(0).astype(np.float64) + 1e-9  # N1+(., b): contexts b follows; never 0
    p_continuation = continuation / continuation.sum()
    context = pairs.sum(1).astype(np.float64)  # c(a, .)
    a, b = validation[:-1].astype(np.int64), validation[1:].astype(np.int64)
    c_ab, c_a = pairs[a, b].astype(np.float64), context[a]
    followers = seen.sum(1)[a].astype(np.float64)  # N1+(a, .)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(c_a > 0, (np.maximum(c_ab - discount, 0) + discount * followers * p_continuation[b]) / c_a,
                     p_continuation[b])  # a context never seen in training: the continuation probability alone
    return float(-np.log(p).mean())
