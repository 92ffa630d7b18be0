"""BLEU and ROUGE as the reference implementations give them (sacreBLEU, rouge-score), on cases worked out by hand,
and the summarization baseline."""

import math

import pytest

from tfmodels.tasks.s2s_metrics import best_lead_words, corpus_bleu, lead, rouge, text_scores


def test_bleu_of_a_perfect_but_short_output_is_its_brevity_penalty():
    # every n-gram precision 1; hypothesis 6 words, reference 7: BP = exp(1 - 7/6)
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat today"]) == pytest.approx(
        100 * math.exp(1 - 7 / 6), abs=1e-6)
    assert corpus_bleu(["a b c d"], ["a b c d"]) == pytest.approx(100.0)


def test_bleu_tokenizes_punctuation_as_13a_does_and_is_case_sensitive():
    assert corpus_bleu(["A man rides a bike."], ["A man rides a bike ."]) == pytest.approx(100.0)
    assert corpus_bleu(["a man rides a bike ."], ["A man rides a bike ."]) < 100.0


def test_bleu_is_a_corpus_score_not_a_mean_of_sentence_scores():
    # sentence 1 has no 4-gram match (its own BLEU 0); the corpus counts still give a positive score
    hyps, refs = ["the cat sat on the mat", "a b"], ["the cat sat on the mat", "a c"]
    # 1-grams 7/8, 2-grams 5/6, 3-grams 4/4, 4-grams 3/3; lengths equal: BP 1
    expected = 100 * math.exp((math.log(7 / 8) + math.log(5 / 6) + math.log(4 / 4) + math.log(3 / 3)) / 4)
    assert corpus_bleu(hyps, refs) == pytest.approx(expected, abs=1e-6)


def test_rouge_counts_unigrams_bigrams_and_the_longest_common_subsequence():
    scores = rouge(["the cat sat"], ["the cat sat down"])
    f = lambda p, r: 2 * p * r / (p + r)  # noqa: E731
    assert scores["rouge1"] == pytest.approx(100 * f(1, 3 / 4))
    assert scores["rouge2"] == pytest.approx(100 * f(1, 2 / 3))
    assert scores["rougeL"] == pytest.approx(100 * f(1, 3 / 4))


def test_rouge_stems_and_averages_over_examples():
    assert rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(100.0)  # Porter stems: cat, run
    both = rouge(["a b", "x y"], ["a b", "z w"])
    assert both["rouge1"] == pytest.approx(50.0) and both["rougeL"] == pytest.approx(50.0)


def test_text_scores_refuse_unequal_lengths():
    with pytest.raises(ValueError, match="2 outputs for 1 references"):
        text_scores(["a", "b"], ["a"])


def test_the_lead_baseline_chooses_its_length_on_the_pairs_it_is_given():
    sources = ["meeting moved to friday please confirm attendance asap", "budget review at noon bring your numbers"]
    targets = [lead(s, 3) for s in sources]
    words, score = best_lead_words(sources, targets)
    assert words == 3 and score == pytest.approx(100.0)
