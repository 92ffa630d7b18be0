"""The Python API: a run folder or an export loaded once and called on raw inputs; the CLI's JSON lines."""

import json

import numpy as np
import pytest
from conftest import CONFIGS
from helpers import tiny_gpt

import tfmodels
from tfmodels.config import apply_overrides, demo_config, load_config
from tfmodels.errors import DataError, ExportError, RunDirError
from tfmodels.verbs.train import train

MLP = ["model.mlp.hidden_units=[32]", "logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=3"]
ENCODER = ["model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2",
           "model.encoder.ffn_dim=64", "data.tokenizer.vocabulary_size=300", "data.tokenizer.sequence_length=32",
           "data.train=synthetic?size=600", "logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=1",
           "trainer.warmup_steps=5"]


def test_every_public_name_is_visible_to_dir_and_tab_completion():
    names = dir(tfmodels)
    assert {"load", "train", "evaluate_run", "export_run", "predict", "generate", "load_model", "load_config",
            "RunModel", "ExportedModel"} <= set(names)
    assert all(callable(getattr(tfmodels, n)) for n in tfmodels.__all__ if n != "__version__")
    assert "os" not in names and "sys" not in names


def test_a_run_and_its_export_predict_the_same_and_write_json_lines(tmp_path, capsys):
    from sklearn.datasets import load_digits

    result = train(apply_overrides(demo_config(), MLP), tmp_path / "run")
    run = tfmodels.load(tmp_path / "run")
    pixels = load_digits().images[:20] / 16.0  # (20, 8, 8) in [0, 1]
    from_run = run.predict(pixels)
    assert len(from_run) == 20 and from_run.all_probabilities.shape == (20, 10)
    np.testing.assert_allclose(from_run.all_probabilities.sum(-1), 1, atol=1e-5)
    assert from_run.names == [str(d) for d in range(10)]
    assert np.mean(from_run.class_ids == load_digits().target[:20]) > 0.5
    exported = run.export(tmp_path / "export")
    assert isinstance(exported, tfmodels.ExportedModel)
    from_export = exported.predict(pixels)
    np.testing.assert_allclose(from_export.all_probabilities, from_run.all_probabilities, atol=1e-5)
    assert tfmodels.load(tmp_path / "export").predict(pixels[0]).class_ids.tolist() == [from_run.class_ids[0]]
    # evaluate on a data spec: the run's task, and the export's accuracy on the same labelled digits
    metrics = run.evaluate("digits?split=test")
    assert metrics["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"], abs=1e-6)
    assert exported.evaluate("digits?split=test")["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    # the CLI's --output: every input with all its probabilities, one JSON object a line
    from tfmodels import cli

    out = tmp_path / "predictions.jsonl"
    assert cli.main(["predict", str(tmp_path / "export"), "digits?split=test", "--output", str(out),
                     "--max-rows", "1"]) == 0
    assert f"270 predictions, with every class's probability: {out}" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 270 and set(rows[0]) == {"index", "class_id", "class_name", "probability", "probabilities",
                                                  "label"}
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    assert all(r["probabilities"][r["class_name"]] == pytest.approx(r["probability"]) for r in rows)
    assert np.mean([r["class_id"] == r["label"] for r in rows]) == pytest.approx(metrics["accuracy"], abs=1e-6)
    # what cannot be asked, in one line each
    with pytest.raises(DataError, match=r"the model takes inputs of shape \[8, 8\], got \[3, 3\]"):
        run.predict(np.zeros((2, 3, 3)))
    with pytest.raises(ExportError, match="has no generate signature: it is not a causal language model"):
        exported.generate("hello")
    with pytest.raises(RunDirError, match="is neither a run folder .* nor an export"):
        tfmodels.load(tmp_path)


def test_a_text_model_predicts_raw_strings_in_python(tmp_path):
    train(apply_overrides(load_config(CONFIGS / "encoder_synthetic.yaml"), ENCODER), tmp_path / "run")
    run = tfmodels.load(tmp_path / "run")
    texts = ["the film is not bad at all", "a dull and boring plot"]
    from_run = run.predict(texts)
    assert from_run.texts == texts and from_run.all_probabilities.shape == (2, 2)
    exported = run.export(tmp_path / "savedmodels" / "1")
    model_folder = tfmodels.load(tmp_path / "savedmodels")  # a model's folder: its newest version
    assert model_folder.path == tmp_path / "savedmodels" / "1"
    np.testing.assert_allclose(exported.predict(texts).all_probabilities, from_run.all_probabilities, atol=1e-4)
    assert [r["text"] for r in from_run.records()] == texts
    with pytest.raises(DataError, match="give a non-empty list of non-empty texts"):
        run.predict(["fine", ""])


@pytest.mark.slow
def test_generate_streams_the_same_text_it_returns_whole(tmp_path, capsys):
    config = apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"),
                             tiny_gpt(tmp_path, "model.gpt.num_layers=1", "trainer.max_steps=60",
                                      "trainer.eval_interval=30", "trainer.batch_size=8"))
    train(config, tmp_path / "run")
    run = tfmodels.load(tmp_path / "run")
    whole = run.generate("to be", max_new_tokens=40)
    pieces = list(run.generate("to be", max_new_tokens=40, stream=True))
    assert len(pieces) == 40 and "".join(pieces) == whole  # a character a piece; greedy: the same text
    from tfmodels import cli

    capsys.readouterr()
    assert cli.main(["generate", str(tmp_path / "run"), "to be", "--max-new-tokens", "40", "--stream"]) == 0
    assert capsys.readouterr().out == "to be" + whole + "\n"
    slid = "".join(run.generate("to be", max_new_tokens=30, stream=True, sampler="top_k", top_k=3, seed=1))
    assert len(slid) == 30  # past the block of 16: the context slid
    exported = run.export(tmp_path / "export")
    short = exported.generate("to be", max_new_tokens=8)
    assert short == whole[:8]  # the export's graph, greedy, within the block
    assert "".join(exported.generate("to be", max_new_tokens=8, stream=True, chunk=3)) == short
    with pytest.raises(ExportError, match="is not a classifier"):
        run.predict(["to be"])
    with pytest.raises(DataError, match="the beam sampler looks ahead and cannot stream"):
        run.generate("to be", stream=True, sampler="beam")
