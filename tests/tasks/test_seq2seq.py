"""Sequence to sequence end to end: train the shipped synthetic encoder-decoder (shrunk), evaluate, export, and
translate from the run, the export, the command line and the SavedModel alone; bad input; search on BLEU."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_cli

import tfmodels
from tfmodels.config import apply_overrides, shipped_config
from tfmodels.errors import ConfigError, DataError
from tfmodels.files import read_json
from tfmodels.verbs.evaluate import evaluate_run
from tfmodels.verbs.export import export_run
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0"]
SOURCES = ["the red cat sees a dog", "a child finds the old bird near the river"]
EXPECTED = ["hun en sit kaz rotu di", "flus di bei foge alo di fin kin en"]  # word by word, reversed


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """The shipped synthetic encoder-decoder, shrunk: trained, then exported."""
    work = tmp_path_factory.mktemp("s2s")
    config = apply_overrides(shipped_config("s2s_synthetic"), [*QUICK, "trainer.epochs=6"])
    result = train(config, work / "run")
    return result, export_run(work / "run", out=work / "export")


def test_an_encoder_decoder_learns_to_translate_and_reorder(translator):
    result, _ = translator
    metrics = read_json(result.paths.metrics)
    assert metrics["test"]["bleu"] > 90 and metrics["test"]["greedy_bleu"] > 90, metrics["test"]
    # one embedding 301 x 64 (300 BPE tokens + padding; tied: also the output), positions 2 x 48 x 64,
    # 2 encoder blocks of 33,472, 2 decoder blocks of 50,240 (cross-attention: 16,640), ln_enc and ln_f
    assert metrics["weights"]["total"] == 193_088
    header = result.paths.history.read_text().splitlines()[0].split(",")
    assert {"val_bleu", "val_rouge1", "val_rouge2", "val_rougeL", "val_token_accuracy"} <= set(header)
    info = read_json(result.paths.data_info)
    assert info["task"] == "seq2seq" and info["token_ids"]["shared_vocabulary"]
    assert info["cut_sources"]["train"] == 0 and info["examples"]["train"] == 3000


def test_evaluate_prints_bleu_and_rouge_and_fills_the_text_tab(translator):
    result, _ = translator
    name, scores = evaluate_run(result.paths.root)
    assert name == "test" and scores["kind"] == "seq2seq" and scores["beam_size"] == 4
    assert scores["bleu"] == pytest.approx(read_json(result.paths.metrics)["test"]["bleu"])
    events = list((result.paths.evaluation_logs).glob("events.*"))
    assert events, "evaluate writes TensorBoard summaries"
    texts = [v.tensor.string_val[0].decode() for e in tf.compat.v1.train.summary_iterator(str(events[-1]))
             for v in e.summary.value if v.tag.endswith("examples")]
    assert texts and "| output |" in texts[0]


def test_the_run_the_export_and_the_command_line_translate_alike(translator, tmp_path):
    result, export = translator
    from_run = tfmodels.load(result.paths.root).translate(SOURCES)
    from_export = tfmodels.load(export).translate(SOURCES)
    assert from_run.outputs == from_export.outputs == EXPECTED
    np.testing.assert_allclose(from_run.scores, from_export.scores, rtol=1e-4)
    greedy = tfmodels.load(export).translate(SOURCES, beam_size=1)
    assert greedy.outputs == EXPECTED and greedy.beam_size == 1
    out = run_cli("translate", export, SOURCES[0], "--beam-size", "2", "--output", tmp_path / "t.jsonl",
                  cwd=tmp_path).stdout
    assert out.strip() == EXPECTED[0]
    assert json.loads((tmp_path / "t.jsonl").read_text())["output"] == EXPECTED[0]


def test_a_saved_model_alone_translates_with_a_beam_size_input(translator):
    _, export = translator
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(str(export))
    out = loaded.signatures["translate"](source=tf.constant(SOURCES), beam_size=tf.constant(3))
    assert [t.decode() for t in out["translation"].numpy()] == EXPECTED
    assert not out["source_cut"].numpy().any() and (out["score"].numpy() < 0).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="beam_size must be at least 1"):
        loaded.signatures["translate"](source=tf.constant(SOURCES), beam_size=tf.constant(0))


def test_a_beam_size_below_one_and_a_too_long_source_are_refused_in_one_line(translator):
    _, export = translator
    model = tfmodels.load(export)
    with pytest.raises(DataError, match="beam size must be at least 1"):
        model.translate(SOURCES, beam_size=0)
    with pytest.raises(DataError, match=r"source 2 has \d+ tokens; the model reads at most 47"):
        model.translate([SOURCES[0], " ".join(["the red cat"] * 20)])
    with pytest.raises(ConfigError, match="data.seq2seq.beam_size must be at least 1"):
        apply_overrides(shipped_config("s2s_synthetic"), ["data.seq2seq.beam_size=0"])


def test_predict_on_an_encoder_decoder_points_to_translate(translator, tmp_path):
    _, export = translator
    out = run_cli("predict", export, SOURCES[0], cwd=tmp_path, check=False)
    assert out.returncode != 0 and "is an encoder-decoder, not a classifier: `tfmodels translate" in out.stderr


def test_separate_vocabularies_give_each_side_its_own_tokenizer_and_embedding(tmp_path):
    from tfmodels.run_folder import RunPaths
    from tfmodels.tasks import task_for
    from tfmodels.tasks.seq2seq import Codecs

    config = apply_overrides(shipped_config("s2s_synthetic"), ["model.seq2seq.shared_vocabulary=false",
                                                               "data.train=synthetic_s2s?size=300"])
    task = task_for(config)
    data = task.prepare(task.load())
    codecs = data.preprocessor
    assert codecs.source is not codecs.target and "rotu" not in " ".join(codecs.source.vocabulary)
    model = task.build_model(data)
    assert model.wte_source is not None and not model.share_embeddings
    paths = RunPaths(tmp_path)
    codecs.save(paths)
    again = Codecs.read(paths)
    assert paths.source_bpe.is_file() and again.source.vocabulary == codecs.source.vocabulary
    assert again.pad_id == codecs.pad_id and read_json(paths.bpe)["vocabulary"] == codecs.target.vocabulary


def test_a_split_given_several_specs_is_refused_in_one_line():
    from tfmodels.tasks import task_for

    config = apply_overrides(shipped_config("s2s_synthetic"), ['data.train=["synthetic_s2s", "synthetic_s2s"]'])
    with pytest.raises(DataError, match="data.train lists 2 specs; an encoder-decoder reads one file a split"):
        task_for(config).load()


@pytest.mark.slow  # ~90 s here (Keras's int8 decoding), the not-slow suite's longest test
def test_int8_quantization_keeps_the_translations(translator, tmp_path):
    from tfmodels.verbs.quantize import quantize_run

    result, _ = translator
    summary = quantize_run(result.paths.root, "int8", out=tmp_path / "int8", evaluate=False)
    assert summary["quantized_layers"] > 0
    assert tfmodels.load(summary["out"]).translate(SOURCES).outputs == EXPECTED


def test_a_search_maximizes_bleu(workdir):
    """`--objective val_bleu`: each trial's objective is the best BLEU of its history."""
    from tfmodels.search import make_plan, report_rows, run_worker

    (workdir / "space.yaml").write_text("trainer.learning_rate: [0.0003, 0.003]\n")
    plan = make_plan("s2s_synthetic", workdir / "space.yaml",
                     [*QUICK, "trainer.epochs=2", "data.test=null", "data.train=synthetic_s2s?size=600",
                      "data.validation=synthetic_s2s?size=100", "data.seq2seq.beam_size=1", "trainer.warmup_steps=0"],
                     trials=2, sampler="grid", objective="val_bleu", study_dir=workdir / "study")
    (workdir / "study").mkdir()
    run_worker(plan, log=lambda _: None)
    rows, best_row = report_rows(plan)
    assert len(rows) == 2 and best_row["val_bleu"] == max(r["val_bleu"] for r in rows)
    for row in rows:
        with open(workdir / "study" / row["run"] / "history.csv", newline="") as f:
            best = max(float(e["val_bleu"]) for e in csv.DictReader(f))
        assert abs(float(row["val_bleu"]) - best) < 1e-6
