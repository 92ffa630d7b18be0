"""Text classification end to end: the real entry point, raw-string SavedModels, and the task that needs attention."""

import json

import numpy as np
import pytest
from conftest import CONFIGS
from helpers import run_cli, run_python_alone

from tfmodels.config import apply_overrides, load_config
from tfmodels.data.text_pipeline import token_ids
from tfmodels.data.tokenizers import TextPreprocessor, load_vocabulary
from tfmodels.models import build_text_model
from tfmodels.saving import load_keras_model
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0"]


def test_default_encoder_parameter_count_is_pinned():
    config = load_config(CONFIGS / "encoder_synthetic.yaml")
    model = build_text_model(config.model, vocabulary_size=1000, sequence_length=24, num_classes=2)
    # embeddings 1000*64 + 24*64; per block: ln 2*64*2, attn 64*192+192 + 64*64+64, ffn 64*128+128 + 128*64+64;
    # final norm 2*64; logits 64*2+2
    per_block = 4 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 128 + 128) + (128 * 64 + 64)
    expected = 1000 * 64 + 24 * 64 + 2 * per_block + 2 * 64 + 64 * 2 + 2
    assert model.count_params() == expected == 132_738


@pytest.mark.slow
def test_train_evaluate_export_predict_raw_strings(tmp_path):
    args = ["--set", "data.train=synthetic?size=3000", "--set", "trainer.epochs=3", "--set", "trainer.warmup_steps=20"]
    args += [a for kv in QUICK for a in ("--set", kv)]
    out = run_cli("train", CONFIGS / "encoder_synthetic.yaml", "--run-dir", "run", *args, cwd=tmp_path)
    assert "test: accuracy" in out.stdout
    assert (tmp_path / "run/vocabulary.txt").read_text().startswith("[PAD]\n[CLS]\n[SEP]\n[UNK]\n[MASK]\n")
    info = json.loads((tmp_path / "run/data.json").read_text())
    assert info["input"] == {"name": "text", "shape": [], "dtype": "string"}
    assert info["class_names"] == ["negative", "positive"]

    out = run_cli("evaluate", "run", cwd=tmp_path)
    assert "test: 2000 examples" in out.stdout
    run_cli("export", "run", "--out", "exported", cwd=tmp_path)
    assert (tmp_path / "exported/vocabulary.txt").read_text() == (tmp_path / "run/vocabulary.txt").read_text()
    out = run_cli("predict", "exported", "a film that is not bad at all", "the plot is dull", cwd=tmp_path)
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["example", "class", "probability", "name", "text"]
    assert len(lines) == 3 and lines[1].split()[3] in ("negative", "positive")
    assert lines[1].endswith("a film that is not bad at all")

    # The SavedModel takes raw strings and gives what the Keras model gives on the token ids.
    code = (
        "import sys, json, tensorflow as tf, tensorflow_text\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "out = m.signatures['serving_default'](text=tf.constant(['the film is not dull', 'the cast is awful']))\n"
        "assert not any(name.startswith('tfmodels') for name in sys.modules)\n"
        "print(json.dumps(out['probabilities'].numpy().tolist()))\n"
    )
    result = run_python_alone(code, tmp_path / "exported")
    assert result.returncode == 0, result.stderr
    served = np.array(json.loads(result.stdout))
    config = load_config(tmp_path / "run/config.yaml")
    pre = TextPreprocessor(load_vocabulary(tmp_path / "run" / "vocabulary.txt"), config.data.tokenizer)
    model = load_keras_model(tmp_path / "run/model.keras")
    logits = model.predict(token_ids(["the film is not dull", "the cast is awful"], pre), verbose=0)
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(served, expected, atol=1e-5)


@pytest.mark.slow
def test_chinese_text_trains_and_predicts(tmp_path):
    good = ["这部电影很好看", "故事很精彩", "我很喜欢这部电影", "演员演得很好", "音乐很美", "结局很感人"]
    bad = ["这部电影很无聊", "故事很难看", "我不喜欢这部电影", "演员演得很差", "音乐很吵", "结局很失望"]
    rows = [f"1\t{t}" for t in good] + [f"0\t{t}" for t in bad]
    (tmp_path / "zh.tsv").write_text("\n".join(rows * 4) + "\n", encoding="utf-8")
    config = apply_overrides(load_config(CONFIGS / "encoder_synthetic.yaml"), [
        *QUICK, "name=zh", f"data.train=tsv:{tmp_path}/zh.tsv", f"data.validation=tsv:{tmp_path}/zh.tsv",
        "data.test=null", "data.tokenizer.vocabulary_size=200", "data.tokenizer.sequence_length=16",
        "trainer.batch_size=8", "trainer.epochs=30", "trainer.warmup_steps=0", "trainer.schedule=constant",
        "trainer.early_stopping_patience=0", "trainer.learning_rate=0.003",
    ])
    result = train(config, tmp_path / "run")
    assert result.metrics["validation"]["accuracy"] == 1.0
    vocabulary = load_vocabulary(tmp_path / "run" / "vocabulary.txt")
    assert "电" in vocabulary and "影" in vocabulary  # one token a character
    pre = TextPreprocessor(vocabulary, config.data.tokenizer)
    predicted = np.argmax(result.model.predict(token_ids(["这部电影很精彩", "这部电影很差"], pre), verbose=0), -1)
    assert list(predicted) == [1, 0]


@pytest.mark.slow
def test_synthetic_task_needs_attention(tmp_path):
    """Same data, tokens and budget: the Transformer solves it, the bag of words cannot."""
    budget = [*QUICK, "trainer.epochs=4", "trainer.early_stopping_patience=0"]
    transformer = train(apply_overrides(load_config(CONFIGS / "encoder_synthetic.yaml"), budget), tmp_path / "t")
    baseline = train(apply_overrides(load_config(CONFIGS / "bow_synthetic.yaml"), budget), tmp_path / "b")
    assert transformer.metrics["test"]["accuracy"] >= 0.95, transformer.metrics["test"]
    assert baseline.metrics["test"]["accuracy"] <= 0.75, baseline.metrics["test"]


def test_tensorboard_for_a_text_run_shows_examples_attention_padding_and_the_confusion_matrix(tmp_path):
    import json

    import numpy as np
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tfmodels.config import apply_overrides, demo_text_config
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    config = apply_overrides(demo_text_config(), ["data.train=synthetic?size=800", "trainer.epochs=2",
                                                  "trainer.warmup_steps=2", "logging.verbose=0",
                                                  "logging.histogram_freq=0"])
    train(config, tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run/logs/run"), size_guidance={"tensors": 0}).Reload()
    tags = set(events.Tags()["tensors"])
    assert {"examples", "attention/0", "attention/2", "data/padding_fraction"} <= tags, tags
    assert [e.step for e in events.Tensors("attention/0")] == [0, 1]  # one map an epoch
    table = tf.make_ndarray(events.Tensors("examples")[-1].tensor_proto).item().decode()
    assert table.count("\n") == 4 and "| predicted |" in table  # header, rule, three sentences
    padding = float(tf.make_ndarray(events.Tensors("data/padding_fraction")[0].tensor_proto))
    assert 0 < padding < 1 and padding == pytest.approx(json.loads((tmp_path / "run/data.json").read_text())[
        "padding_fraction"])

    _, result = evaluate_run(tmp_path / "run")
    evaluation = EventAccumulator(str(tmp_path / "run/logs/evaluation"), size_guidance={"tensors": 0}).Reload()
    counts = tf.make_ndarray(evaluation.Tensors("confusion_matrix/test/counts")[0].tensor_proto).item().decode()
    rows = [line.split("|")[2:-1] for line in counts.splitlines()[2:]]
    assert sum(int(c) for row in rows for c in row) == result["examples"]
    assert np.array(rows, dtype=int).tolist() == result["confusion_matrix"]
