"""Token classification end to end: train (named entities, semantic roles), evaluate, export, predict
(the command line, the Python API, the SavedModel alone), portable exports and quantization, bad input."""

import csv
import json

import numpy as np
import pytest
from helpers import run_cli

import tfmodels
from tfmodels.config import apply_overrides, shipped_config
from tfmodels.errors import DataError
from tfmodels.files import read_json
from tfmodels.verbs.evaluate import evaluate_run
from tfmodels.verbs.export import export_run
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0"]

ROLES = [  # (words, predicate, roles): a tiny PropBank of two frames, each word's head and relation
    ("the boy kicked the ball".split(), 2, ["O", "ARG0", "V", "O", "ARG1"], [1, 2, -1, 4, 2],
     ["det", "nsubj", "root", "det", "obj"]),
    ("a girl threw a stone".split(), 2, ["O", "ARG0", "V", "O", "ARG1"], [1, 2, -1, 4, 2],
     ["det", "nsubj", "root", "det", "obj"]),
    ("the ball hit the boy".split(), 2, ["O", "ARG0", "V", "O", "ARG1"], [1, 2, -1, 4, 2],
     ["det", "nsubj", "root", "det", "obj"]),
    ("the stone fell".split(), 2, ["O", "ARG1", "V"], [1, 2, -1], ["det", "nsubj", "root"]),
]


def propbank_file(path, copies=40):
    lines = []
    for _ in range(copies):
        for words, predicate, roles, heads, relations in ROLES:
            for i, word in enumerate(words):
                roleset = f"{word}.01" if i == predicate else "_"
                lines.append("\t".join([str(i + 1), word, word, "X", "X", "_", str(heads[i] + 1), relations[i], "_",
                                        "_", roleset, roles[i] if roles[i] != "O" else "_"]))
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    """The shipped synthetic tagger, shrunk: trained, then exported."""
    work = tmp_path_factory.mktemp("tagger")
    config = apply_overrides(shipped_config("tagger_synthetic"), [*QUICK, "trainer.epochs=3"])
    result = train(config, work / "run")
    return result, export_run(work / "run", out=work / "export")


def test_a_tagger_learns_the_synthetic_entities_and_records_entity_f1(tagger):
    result, _ = tagger
    metrics = read_json(result.paths.metrics)
    assert metrics["test"]["f1"] > 0.9, metrics["test"]
    assert set(metrics["test"]["per_type"]) == {"PER", "LOC", "ORG"}
    assert metrics["test"]["cut_words"] == 0
    history = result.paths.history.read_text().splitlines()
    assert "val_f1" in history[0].split(",")
    assert metrics["weights"]["total"] == 43_596  # 1 block x 64 wide, its learnt vocabulary, 12 BIOES labels
    info = read_json(result.paths.data_info)
    assert info["scheme"] == "bioes" and info["class_names"][0] == "O"
    assert len(info["class_names"]) == 12  # O and B-, I-, E-, S- of PER and ORG; no three-word place: no I-LOC


def test_evaluate_prints_the_entity_table(tagger, capsys):
    result, _ = tagger
    name, scores = evaluate_run(result.paths.root)
    assert name == "test" and scores["kind"] == "tagging" and scores["f1"] > 0.9
    assert scores["f1"] == pytest.approx(read_json(result.paths.metrics)["test"]["f1"])


def test_the_export_the_run_and_the_command_line_tag_alike(tagger):
    result, export = tagger
    sentences = ["the European Commission said Anna Berg joined Reuters in New York .", "Tom visited Lisbon ."]
    from_run = tfmodels.load(result.paths.root).predict(sentences)
    from_export = tfmodels.load(export).predict(sentences)
    assert from_run.tags == from_export.tags
    assert ("PER", "Anna Berg") in {(e["type"], e["text"]) for e in from_export.entities(0)}
    assert from_export.bracketed(1) == "[PER Tom] visited [LOC Lisbon] ."
    out = run_cli("predict", export, sentences[1], "synthetic_tags", "--max-rows", "1", cwd=result.paths.root).stdout
    assert "[PER Tom] visited [LOC Lisbon] ." in out
    assert "entity F1" not in out  # a sentence without gold tags among the inputs: no score


def test_predict_scores_a_tagged_spec_and_writes_jsonl(tagger, tmp_path):
    _, export = tagger
    out = run_cli("predict", export, "synthetic_tags", "--max-rows", "2", "--output", tmp_path / "p.jsonl",
                  cwd=tmp_path).stdout
    assert "entity F1" in out and "120 predictions, with every word's tag" in out
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 120 and rows[0]["entities"] and len(rows[0]["tags"]) == len(rows[0]["words"])


def test_a_sentence_longer_than_the_sequence_length_is_tagged_and_its_cut_words_counted(tagger):
    _, export = tagger
    long = " ".join(["Tom visited Lisbon ."] * 12)  # 48 words, more sub-words than the 32 positions
    result = tfmodels.load(export).predict([long])
    assert len(result.tags[0]) == 48 and result.cut_words[0] > 0
    assert all(tag == "O" for tag in result.tags[0][-result.cut_words[0]:])


def test_an_empty_sentence_is_refused(tagger):
    _, export = tagger
    with pytest.raises(DataError, match="sentence 1 is empty"):
        tfmodels.load(export).predict(["Tom ran .", "  "])


def test_a_tag_in_validation_that_training_never_saw_is_refused(tmp_path):
    (tmp_path / "train.txt").write_text("Tom B-PER\nran O\n\nAnn B-PER\n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text("Paris B-LOC\nis O\n\nBerlin B-LOC\n", encoding="utf-8")
    config = apply_overrides(shipped_config("tagger_synthetic"), [
        *QUICK, f"data.train=conll:{tmp_path}/train.txt", f"data.validation=conll:{tmp_path}/valid.txt", "data.test=null"])
    with pytest.raises(DataError, match=r"data.validation \('.*valid.txt'\): tag 'S-LOC' \(2 word\(s\)\) never appears "
                                        r"in training"):
        train(config, tmp_path / "run")


def test_semantic_roles_train_export_and_take_the_predicate(tmp_path):
    data = propbank_file(tmp_path / "up.conllu")
    config = apply_overrides(shipped_config("tagger_synthetic"), [
        *QUICK, f"data.train=conllu:{data}", "data.validation=null", "data.validation_fraction=0.1", "data.test=null",
        "trainer.epochs=6", "trainer.batch_size=16"])
    result = train(config, tmp_path / "run")
    assert read_json(result.paths.metrics)["validation"]["f1"] > 0.9
    info = read_json(result.paths.data_info)
    assert info["input"]["predicate"] == "predicate" and "V" in info["class_names"]
    assert "[PRED]" in (result.paths.root / "vocabulary.txt").read_text().split("\n")
    export = export_run(result.paths.root, out=tmp_path / "export")
    frames = tfmodels.load(export).predict(["a boy kicked the stone"], predicate=2)
    assert frames.bracketed(0) == "kicked: [ARG0 boy] [ARG1 stone]"
    out = run_cli("predict", export, "the girl threw a ball", "--predicate", "2", cwd=tmp_path).stdout
    assert "threw: [ARG0 girl] [ARG1 ball]" in out
    with pytest.raises(DataError, match="give its word index"):
        tfmodels.load(export).predict(["a boy kicked the stone"])
    with pytest.raises(DataError, match="the predicate index 9 is not one of them"):
        tfmodels.load(export).predict(["a boy kicked the stone"], predicate=9)


@pytest.mark.slow
def test_litert_onnx_and_int8_quantization_of_a_tagger(tagger, tmp_path):
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.saving import load_keras_model
    from tfmodels.tasks import task_for
    from tfmodels.verbs.export_portable import LiteRTModel, OnnxModel, export_portable
    from tfmodels.verbs.quantize import quantize_run

    result, _ = tagger
    paths = RunPaths(result.paths.root)
    x = task_for(read_run_config(paths)).model_inputs(paths, read_json(paths.data_info), split="validation", limit=8)
    expected = np.asarray(load_keras_model(paths.model)(x, training=False))
    for format, runner in (("litert", LiteRTModel), ("onnx", OnnxModel)):
        out, description = export_portable(paths.root, format, out=tmp_path / format)
        np.testing.assert_allclose(runner(out / description["file"])(x), expected, atol=1e-4)
        assert description["outputs"]["logits"] == ["batch", "time", 12]
    summary = quantize_run(paths.root, "int8", out=tmp_path / "int8")
    assert summary["quantized_layers"] > 0
    assert summary["validation"]["f1"] > summary["float_validation"]["f1"] - 0.02


def test_a_search_maximizes_entity_f1(workdir):
    """`--objective val_f1`: each trial's objective is the best entity F1 of its history."""
    from tfmodels.search import make_plan, report_rows, run_worker

    (workdir / "space.yaml").write_text("trainer.learning_rate: [0.0003, 0.003]\n")
    plan = make_plan("tagger_synthetic", workdir / "space.yaml",
                     [*QUICK, "trainer.epochs=2", "data.test=null"], trials=2, sampler="grid", objective="val_f1",
                     study_dir=workdir / "study")
    (workdir / "study").mkdir()
    run_worker(plan, log=lambda _: None)
    rows, best_row = report_rows(plan)
    assert len(rows) == 2 and best_row["val_f1"] == max(r["val_f1"] for r in rows)
    for row in rows:
        with open(workdir / "study" / row["run"] / "history.csv", newline="") as f:
            best = max(float(e["val_f1"]) for e in csv.DictReader(f))
        assert abs(float(row["val_f1"]) - best) < 1e-6
    assert max(float(r["val_f1"]) for r in rows) > 0.5
