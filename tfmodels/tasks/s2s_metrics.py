"""Scores of generated text against references, by the reference implementations themselves.

- BLEU: `sacrebleu.corpus_bleu` with its defaults (13a tokenization, exponential smoothing off,
  case-sensitive): the signature every recent MT paper reports (Post 2018, "A Call for Clarity in
  Reporting BLEU Scores").
- ROUGE-1/2/L: Google's `rouge-score` (the implementation TensorFlow's and Hugging Face's summarization
  examples report), F-measure, Porter stemming on, averaged over the examples.

Both are on the package registry and small; BLEU in particular differs by points between
implementations (tokenization), so they are used as they are rather than rewritten
(docs/design.md). Scores are on a 0-100 scale, as the papers print them.
"""

from __future__ import annotations

import numpy as np

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """sacreBLEU's corpus BLEU (0-100) of one hypothesis and one reference an example."""
    import sacrebleu

    _check(hypotheses, references)
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def rouge(hypotheses: list[str], references: list[str]) -> dict:
    """{rouge1, rouge2, rougeL}: the mean over examples of rouge-score's F-measure (0-100), stemmed."""
    from rouge_score import rouge_scorer

    _check(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    scores = [scorer.score(reference, hypothesis) for hypothesis, reference in zip(hypotheses, references)]
    return {kind: float(100 * np.mean([s[kind].fmeasure for s in scores])) for kind in ROUGE_TYPES}


def text_scores(hypotheses: list[str], references: list[str]) -> dict:
    """BLEU and ROUGE-1/2/L of the same outputs (a translation is read by BLEU, a summary by ROUGE)."""
    return {"bleu": corpus_bleu(hypotheses, references), **rouge(hypotheses, references)}


def _check(hypotheses, references) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} outputs for {len(references)} references")
    if not hypotheses:
        raise ValueError("no outputs to score")


# --- baselines --------------------------------------------------------------------------------------

def lead(text: str, words: int) -> str:
    """The first `words` words of `text` (summarization's lead baseline)."""
    return " ".join(text.split()[:words])


def best_lead_words(sources: list[str], targets: list[str], choices=range(1, 21)) -> tuple[int, float]:
    """(N, its mean ROUGE-1/2/L F on these pairs): the lead length that scores best, chosen on training pairs."""
    best = (0, -1.0)
    for n in choices:
        scores = rouge([lead(s, n) for s in sources], targets)
        mean = float(np.mean(list(scores.values())))
        if mean > best[1]:
            best = (n, mean)
    return best
