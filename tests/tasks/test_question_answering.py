"""Question answering end to end: train on contexts read in several windows, evaluate, export, predict (the
command line, the Python API, the SavedModel alone), decoding against brute force, bad input, search."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_cli

import tfmodels
from tfmodels.config import apply_overrides, shipped_config
from tfmodels.decoding.spans import answers, window_candidates
from tfmodels.errors import ConfigError, DataError
from tfmodels.files import read_json
from tfmodels.verbs.evaluate import evaluate_run
from tfmodels.verbs.export import export_run
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0"]
CONTEXT = "Anna Berg was born in Lima in 1950 . Anna Berg worked as a pilot for many years . Anna Berg moved to Oslo later ."


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    """The shipped synthetic question answerer, shrunk: trained, then exported."""
    work = tmp_path_factory.mktemp("qa")
    config = apply_overrides(shipped_config("qa_synthetic"), [*QUICK, "trainer.epochs=5"])
    result = train(config, work / "run")
    return result, export_run(work / "run", out=work / "export")


def test_a_question_answerer_learns_to_answer_across_windows(answerer):
    result, _ = answerer
    metrics = read_json(result.paths.metrics)
    assert metrics["test"]["f1"] > 0.9 and metrics["test"]["exact_match"] > 0.9, metrics["test"]
    assert "val_f1" in result.paths.history.read_text().splitlines()[0].split(",")
    assert metrics["weights"]["total"] == 78_274  # embeddings (139 + 32 + 2) x 64 + norm, 2 blocks of 33,472, 2 logits
    info = read_json(result.paths.data_info)
    assert info["window_counts"]["train"] > info["examples"]["train"]  # contexts longer than a window
    assert info["answerable_windows"]["train"] < info["window_counts"]["train"]  # windows that target [CLS]
    assert info["language"] == "en" and info["cut_questions"]["train"] == 0


def test_evaluate_prints_exact_match_and_f1(answerer):
    result, _ = answerer
    name, scores = evaluate_run(result.paths.root)
    assert name == "test" and scores["kind"] == "qa"
    assert scores["f1"] == pytest.approx(read_json(result.paths.metrics)["test"]["f1"])


def test_the_export_the_run_and_the_command_line_answer_alike(answerer):
    result, export = answerer
    questions = ["Where was Anna Berg born ?", "Where did Anna Berg move to ?", "What did Anna Berg work as ?"]
    from_run = tfmodels.load(result.paths.root).predict(questions, contexts=[CONTEXT] * 3)
    from_export = tfmodels.load(export).predict([f"{q}\t{CONTEXT}" for q in questions])
    assert from_run.answers == from_export.answers == ["Lima", "Oslo", "a pilot"]
    np.testing.assert_allclose(from_run.scores, from_export.scores, rtol=1e-4)
    for i, answer in enumerate(from_export.answers):  # offsets into the context, end exclusive
        assert CONTEXT[from_export.starts[i]:from_export.ends[i]] == answer
        assert from_export.n_best[i][0]["text"] == answer and len(from_export.n_best[i]) > 1
        assert len({(c["start"], c["end"]) for c in from_export.n_best[i]}) == len(from_export.n_best[i])
    out = run_cli("predict", export, f"{questions[0]}\t{CONTEXT}", cwd=result.paths.root).stdout
    assert "-> Lima" in out and "[22:26]" in out


def test_predict_scores_a_squad_spec_and_writes_jsonl(answerer, tmp_path):
    result, export = answerer
    out = run_cli("predict", export, "synthetic_qa?sample=40", "--max-rows", "2", "--output", tmp_path / "p.jsonl",
                  cwd=tmp_path).stdout
    assert "exact match" in out and "on 40 questions" in out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and rows[0]["gold"] and rows[0]["n_best"][0]["text"] == rows[0]["answer"]


def test_a_saved_model_alone_answers_with_tensorflow_text_imported(answerer):
    _, export = answerer
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(str(export))
    out = loaded.signatures["serving_default"](question=tf.constant(["When was Anna Berg born ?"]),
                                               context=tf.constant([CONTEXT]))
    assert out["answer"].numpy()[0].decode() == "1950"
    assert int(out["windows"].numpy()[0]) >= 2 and not out["question_cut"].numpy()[0]


def test_an_empty_context_and_a_too_long_question_are_refused_in_one_line(answerer):
    _, export = answerer
    model = tfmodels.load(export)
    with pytest.raises(DataError, match="question 0 .*its context is empty"):
        model.predict(["Who?"], contexts=[" "])
    with pytest.raises(DataError, match=r"longer than the 12 sub-words this model reads \(data.qa.max_question_tokens\)"):
        model.predict(["where was anna berg born " * 4], contexts=[CONTEXT])
    with pytest.raises(DataError, match="'question<TAB>context'"):
        model.predict(["no tab here"])


def test_a_sequence_too_short_for_question_and_stride_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot hold a question of data.qa.max_question_tokens=12"):
        apply_overrides(shipped_config("qa_synthetic"), ["data.tokenizer.sequence_length=20"])


def brute_force(logits, position, length, max_answer):
    best = []
    for s in range(position, position + length):
        for e in range(s, min(position + length, s + max_answer)):
            best.append((logits[0, s] + logits[1, e], s, e))
    return sorted(best, reverse=True)


def test_window_candidates_are_the_best_legal_spans():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 2, 20)).astype(np.float32)
    position, length = np.array([4, 6, 2], np.int32), np.array([10, 14, 3], np.int32)
    scores, starts, ends = (t.numpy() for t in window_candidates(tf.constant(logits), position, length, 5, 4))
    for n in range(3):
        expected = brute_force(logits[n], position[n], length[n], 4)[:5]
        live = scores[n] > -1e8
        assert len(expected) == min(5, live.sum())
        np.testing.assert_allclose(scores[n][live], [x[0] for x in expected], rtol=1e-6)
        assert list(zip(starts[n][live], ends[n][live])) == [(x[1], x[2]) for x in expected]


def test_answers_merge_a_span_found_in_two_windows_and_map_it_to_characters():
    context = "ab cd ef"
    packed = {"example": tf.constant([0, 0]), "window_start": tf.constant([0, 1]),
              "context_position": tf.constant([2, 2]),
              "token_begin": tf.constant([[0, 3, 6]]), "token_end": tf.constant([[2, 5, 8]])}
    # window 0 reads sub-words 0..2 at positions 2..4, window 1 sub-words 1..2 at positions 2..3
    scores = tf.constant([[5.0, 1.0], [6.0, 2.0]])
    starts, ends = tf.constant([[3, 2], [2, 3]]), tf.constant([[3, 4], [2, 3]])  # "cd", "ab cd ef"; "cd", "ef"
    out = answers(scores, starts, ends, packed, tf.constant([context]), 3)
    assert [a.decode() for a in out["answers"].numpy()[0]] == ["cd", "ef", "ab cd ef"]
    np.testing.assert_allclose(out["scores"].numpy()[0], [6.0, 2.0, 1.0])
    assert out["starts"].numpy()[0].tolist() == [3, 6, 0] and out["ends"].numpy()[0].tolist() == [5, 8, 8]
    assert out["probabilities"].numpy()[0].sum() == pytest.approx(1.0)


def test_a_search_maximizes_answer_f1(workdir):
    """`--objective val_f1`: each trial's objective is the best F1 of its history."""
    from tfmodels.search import make_plan, report_rows, run_worker

    (workdir / "space.yaml").write_text("trainer.learning_rate: [0.0003, 0.003]\n")
    plan = make_plan("qa_synthetic", workdir / "space.yaml", [*QUICK, "trainer.epochs=2", "data.test=null"],
                     trials=2, sampler="grid", objective="val_f1", study_dir=workdir / "study")
    (workdir / "study").mkdir()
    run_worker(plan, log=lambda _: None)
    rows, best_row = report_rows(plan)
    assert len(rows) == 2 and best_row["val_f1"] == max(r["val_f1"] for r in rows)
    for row in rows:
        with open(workdir / "study" / row["run"] / "history.csv", newline="") as f:
            best = max(float(e["val_f1"]) for e in csv.DictReader(f))
        assert abs(float(row["val_f1"]) - best) < 1e-6
