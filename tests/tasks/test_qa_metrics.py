"""Exact match and F1 as SQuAD v1.1's evaluate-v1.1.py and CMRC 2018's cmrc2018_evaluate.py define them:
hand-made cases whose values are worked out by hand in the comments."""

import pytest

from tfmodels.tasks.qa_metrics import (
    answer_scores,
    cmrc_exact_match,
    cmrc_f1,
    mixed_segmentation,
    normalize_answer,
    squad_exact_match,
    squad_f1,
    text_language,
)


def test_squad_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("theatre") == "theatre"  # an article only as a whole word
    assert normalize_answer("Saint-Étienne") == "saintétienne"  # ASCII punctuation only, as the script


@pytest.mark.parametrize("prediction, gold, em, f1", [
    ("the Denver Broncos", "Denver Broncos", 1.0, 1.0),
    ("Denver Broncos won", "Denver Broncos", 0.0, 0.8),  # precision 2/3, recall 1: 2 * (2/3) / (5/3)
    ("Broncos", "Denver Broncos", 0.0, 2 / 3),  # precision 1, recall 1/2
    ("Carolina Panthers", "Denver Broncos", 0.0, 0.0),
    ("a", "the", 1.0, 0.0),  # both normalise to nothing: equal, but no common word
    ("New York New York", "New York", 0.0, 2 / 3),  # a bag of words: 2 common of 4 predicted, 2 of 2 gold
])
def test_squad_exact_match_and_f1_of_one_answer(prediction, gold, em, f1):
    assert squad_exact_match(prediction, gold) == em
    assert squad_f1(prediction, gold) == pytest.approx(f1)


def test_a_set_takes_the_best_gold_answer_of_each_question_and_the_mean_over_questions():
    gold = [["Denver Broncos", "Broncos"], ["Santa Clara, California", "Levi's Stadium"], ["1990"]]
    predicted = ["Broncos", "Levi's Stadium in Santa Clara", "1991"]
    scores = answer_scores(gold, predicted)
    # EM: 1 (second gold), 0, 0 -> 1/3. F1: 1; max(santa clara vs santa clara california: p 2/5 r 2/3 -> 0.5,
    # levis stadium: p 2/5 r 1 -> 4/7) = 4/7; 0.
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((1 + 4 / 7 + 0) / 3)
    assert scores["questions"] == 3
    with pytest.raises(ValueError, match="2 questions with gold answers but 1 predictions"):
        answer_scores([["a"], ["b"]], ["a"])


def test_cmrc_segments_cjk_characters_alone_and_other_runs_into_words():
    assert mixed_segmentation("1786年2月") == ["1786", "年", "2", "月"]
    assert mixed_segmentation("《梵語》abc def", True) == ["梵", "語", "abc", "def"]


@pytest.mark.parametrize("prediction, gold, em, f1", [
    ("歐洲", "歐洲", 1.0, 1.0),
    ("在歐洲", "歐洲", 0.0, 0.8),  # common substring 2: precision 2/3, recall 1
    ("德國學者", "學者陸特", 0.0, 0.5),  # common substring 學者: 2/4 and 2/4
    ("「歐洲」", "歐洲", 1.0, 1.0),  # the listed punctuation is dropped
    ("洲歐", "歐洲", 0.0, 0.5),  # a substring, not a bag: one character in common
    ("美國", "歐洲", 0.0, 0.0),
])
def test_cmrc_exact_match_and_character_f1(prediction, gold, em, f1):
    assert cmrc_exact_match(prediction, gold) == em
    assert cmrc_f1(prediction, gold) == pytest.approx(f1)
    assert answer_scores([[gold]], [prediction], "zh")["f1"] == pytest.approx(f1)


def test_the_language_is_chosen_from_the_script_of_the_contexts():
    assert text_language(["在歐洲，梵語的學術研究，由德國學者陸特和漢斯雷頓開創。"]) == "zh"
    assert text_language(["Super Bowl 50 was an American football game."]) == "en"


def test_the_sliding_window_baseline_scores_question_words_around_each_candidate():
    from tfmodels.data.qa import QASet
    from tfmodels.tasks.qa_baseline import sliding_window_answers

    context = ("Berlin hosted the summit in spring and many ministers came along to talk for days without end . "
               "Lisbon hosted the regatta in autumn .")
    qa = QASet(["Which city hosted the regatta ?"], [context], [[("Lisbon", context.index("Lisbon"))]], ["a"], [0])
    # Question words in the context: hosted, the (2 each: log 1.5 = 0.405), regatta (1: log 2 = 0.693).
    # "Lisbon": 8 words left hold none of them, 8 right hold hosted, the, regatta: 1.504.
    # "came along to talk": 8 left hold hosted, the; 8 right hold hosted, the: 1.622, the best (the method
    # counts every occurrence, as Richardson et al.'s windows do).
    assert sliding_window_answers(qa) == ["came along to talk"]
    shorter = QASet(qa.questions, ["Lisbon hosted the regatta in autumn ."], [[("Lisbon", 0)]], ["a"], [0])
    assert sliding_window_answers(shorter) == ["Lisbon"]  # "autumn" ties it (3 x log 2): the earlier span wins
