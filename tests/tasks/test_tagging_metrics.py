"""Tagging scores equal seqeval's; the constrained decoder emits only valid sequences, the best of them;
the baselines compute what they say."""

import itertools
import random
import warnings

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.data.tag_schemes import allowed_transitions, spans
from tfmodels.data.tagging import TaggedSet
from tfmodels.decoding.tags import best_valid_tags
from tfmodels.tasks.tagging_baseline import most_frequent_roles, most_frequent_tags
from tfmodels.tasks.tagging_metrics import entity_scores, role_scores

seqeval = pytest.importorskip("seqeval.metrics")


def _assert_equal_to_seqeval(gold, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about undefined precision of empty types
        ours = entity_scores(gold, predicted)
        report = seqeval.classification_report(gold, predicted, output_dict=True, zero_division=0)
        assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, predicted, zero_division=0), abs=1e-12)
        assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, predicted, zero_division=0), abs=1e-12)
        assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, predicted, zero_division=0), abs=1e-12)
    for kind, row in ours["per_type"].items():
        theirs = report[kind]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"], theirs["support"]), abs=1e-12), kind


@pytest.mark.parametrize("gold,predicted", [
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),  # all right
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-ORG"]]),  # a short span and a wrong type
    ([["O", "I-ORG", "I-ORG", "O"]], [["O", "B-ORG", "I-ORG", "O"]]),  # an I- with no B- before it: an entity
    ([["B-MISC", "I-PER", "O"], ["I-LOC"]], [["B-MISC", "B-PER", "O"], ["O"]]),
    ([["B-A", "E-A", "S-B", "O"]], [["B-A", "I-A", "S-B", "E-B"]]),  # BIOES
    ([["O", "O"]], [["B-PER", "O"]]),  # nothing to find, one false alarm
])
def test_entity_scores_equal_seqeval_on_hand_made_cases(gold, predicted):
    _assert_equal_to_seqeval(gold, predicted)


@pytest.mark.parametrize("prefixes", ["BIO", "BIOES"])
def test_entity_scores_equal_seqeval_on_random_sequences(prefixes):
    rng = random.Random(len(prefixes))

    def tag():
        p = rng.choice(prefixes)
        return "O" if p == "O" else f"{p}-{rng.choice(['PER', 'LOC', 'ORG'])}"

    for _ in range(200):
        gold = [[tag() for _ in range(rng.randint(1, 9))] for _ in range(rng.randint(1, 5))]
        predicted = [[tag() if rng.random() < 0.5 else t for t in sentence] for sentence in gold]
        _assert_equal_to_seqeval(gold, predicted)


def test_role_scores_count_head_words_and_leave_v_out():
    gold = [["ARG0", "V", "O", "ARG1"], ["O", "ARGM-TMP", "V"]]
    predicted = [["ARG0", "V", "ARG1", "ARG2"], ["V", "ARGM-TMP", "O"]]
    scores = role_scores(gold, predicted)
    assert (scores["correct"], scores["predicted"], scores["support"]) == (2, 4, 3)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_type"]["ARG1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 1,
                                          "correct": 0}
    assert "V" not in scores["per_type"]


def _is_valid(tags, allowed, labels):
    path = [len(labels)] + [labels.index(t) for t in tags] + [len(labels)]
    return all(allowed[a, b] for a, b in zip(path[:-1], path[1:]))


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
def test_the_constrained_decoder_returns_the_best_valid_sequence(scheme):
    """On random scores, against brute force over every sequence: valid, and none valid scores higher."""
    labels = ["O", "B-A", "I-A", "B-B", "I-B"] if scheme == "iob2" else ["O", "B-A", "I-A", "E-A", "S-A"]
    allowed = allowed_transitions(labels, scheme)
    rng = np.random.default_rng(0)
    scores = tf.nn.log_softmax(rng.normal(size=(40, 4, len(labels))) * 3).numpy().astype(np.float32)
    lengths = rng.integers(1, 5, size=40)
    decoded = best_valid_tags(tf.constant(scores), tf.constant(lengths), allowed).numpy()
    argmax_invalid = 0
    for row, n in enumerate(lengths):
        tags = [labels[i] for i in decoded[row, :n]]
        assert _is_valid(tags, allowed, labels), tags
        assert (decoded[row, n:] == 0).all()
        best = max((seq for seq in itertools.product(range(len(labels)), repeat=int(n))
                    if _is_valid([labels[i] for i in seq], allowed, labels)),
                   key=lambda seq: sum(scores[row, t, i] for t, i in enumerate(seq)))
        assert sum(scores[row, t, i] for t, i in enumerate(decoded[row, :n])) == pytest.approx(
            sum(scores[row, t, i] for t, i in enumerate(best)), abs=1e-5)
        argmax_invalid += not _is_valid([labels[i] for i in scores[row, :n].argmax(-1)], allowed, labels)
    assert argmax_invalid > 0  # the case is a real one: each word's argmax alone is often invalid


def test_the_most_frequent_tag_baseline():
    train = TaggedSet([["Paris", "is", "big"], ["Paris", "Hilton"], ["Paris"]],
                      [["B-LOC", "O", "O"], ["B-PER", "I-PER"], ["B-LOC"]], "train")
    tagged = TaggedSet([["Paris", "Hilton", "sings"]], [["B-PER", "I-PER", "O"]], "test")
    assert most_frequent_tags(train, tagged) == [["B-LOC", "I-PER", "O"]]
    assert spans(most_frequent_tags(train, tagged)[0]) == [("LOC", 0, 0), ("PER", 1, 1)]


def test_the_most_frequent_role_baseline():
    train = TaggedSet([["He", "ran", "home"], ["She", "ran"]], [["ARG0", "V", "ARGM-DIR"], ["ARG0", "V"]], "train",
                      predicates=[1, 1], relations=[["nsubj", "root", "obl"], ["nsubj", "root"]],
                      heads=[[1, -1, 1], [1, -1]])
    tagged = TaggedSet([["It", "fell", "there"]], [["ARG1", "V", "O"]], "test", predicates=[1],
                       relations=[["nsubj", "root", "advmod"]], heads=[[1, -1, 1]])
    assert most_frequent_roles(train, tagged) == [["ARG0", "V", "O"]]


def test_entity_errors_sort_each_gold_entity_and_each_false_alarm():
    from tfmodels.tasks.tagging_metrics import entity_errors

    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG", "O", "O", "O", "B-MISC"]]
    errors = entity_errors(gold, predicted)
    assert errors["PER"]["correct"] == 1 and errors["LOC"]["wrong type"] == 1 and errors["ORG"]["missed"] == 1
    assert errors["MISC"]["false alarm"] == 1
    assert entity_errors([["B-LOC", "I-LOC", "O"]], [["B-LOC", "O", "O"]])["LOC"]["wrong boundaries"] == 1
