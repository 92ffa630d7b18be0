"""The real entry point, end to end, with a shrunk config: train -> evaluate -> export -> predict."""

import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import CONFIGS, REPO
from helpers import run_cli, run_python_alone
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfmodels.data.images import load_images
from tfmodels.saving import load_keras_model

SHRUNK = ["--set", "trainer.epochs=3", "--set", "model.mlp.hidden_units=[64]", "--set", "logging.verbose=0"]


def scalars(log_dir, tag):
    accumulator = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    return [float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    out = run_cli("train", CONFIGS / "mlp_digits.yaml", "--run-dir", "run", *SHRUNK, cwd=work)
    return work, out


def test_train_writes_a_complete_run_folder(trained):
    work, out = trained
    run = work / "run"
    assert "run folder: run" in out.stdout and "test: accuracy" in out.stdout
    for name in ("config.yaml", "data.json", "model.keras", "history.csv", "metrics.json"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "best.weights.h5").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_trained"] == 3
    assert metrics["test"]["accuracy"] > 0.8
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 3
    assert "hidden_units:\n    - 64" in (run / "config.yaml").read_text()


def test_tensorboard_holds_epoch_scalars(trained):
    work, _ = trained
    train_loss = scalars(work / "run/logs/train", "epoch_loss")
    assert len(train_loss) == 3 and train_loss[-1] < train_loss[0]
    assert len(scalars(work / "run/logs/validation", "epoch_loss")) == 3
    assert scalars(work / "run/logs/train", "epoch_learning_rate") == pytest.approx([1e-3] * 3)
    accumulator = EventAccumulator(str(work / "run/logs/train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert "mlp_classifier/hidden_0/kernel/histogram" in accumulator.Tags()["tensors"]  # weight histograms


@pytest.mark.slow
def test_evaluate_export_predict(trained):
    work, _ = trained
    out = run_cli("evaluate", "run", cwd=work)
    assert "test: 270 examples, accuracy" in out.stdout
    evaluation = json.loads((work / "run/metrics.json").read_text())["evaluation"]["test"]
    matrix = np.array(evaluation["confusion_matrix"])
    assert matrix.sum() == 270 and np.trace(matrix) / 270 == pytest.approx(evaluation["accuracy"])
    assert len(evaluation["per_class"]) == 10 and 0 < evaluation["macro_f1"] <= 1
    assert (work / "run/confusion_matrix_test.png").read_bytes()[:4] == b"\x89PNG"
    images = EventAccumulator(str(work / "run/logs/evaluation"), size_guidance={"tensors": 0})
    images.Reload()
    assert "confusion_matrix/test" in images.Tags()["tensors"]

    out = run_cli("export", "run", "--savedmodels-dir", "sm", cwd=work)
    assert "SavedModel written to sm/run/1" in out.stdout
    assert run_cli("export", "run", "--savedmodels-dir", "sm", cwd=work).stdout.strip().endswith("sm/run/2")
    refused = run_cli("export", "run", "--out", "sm/run/1", cwd=work, check=False)
    assert refused.returncode == 2 and "exists already; exports never overwrite" in refused.stderr
    assert sorted(p.name for p in (work / "sm/run").iterdir()) == ["1", "2"]  # no staging folder left

    out = run_cli("predict", "sm/run/1", "digits?split=test", cwd=work)
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["example", "class", "probability", "name", "label"]
    assert len(lines) == 1 + 270 + 1
    assert lines[-1] == f"accuracy: {evaluation['accuracy']:.4f} on 270 examples"


def test_saved_model_matches_the_keras_model(trained):
    work, _ = trained
    run_cli("export", "run", "--out", "sm_check", cwd=work)
    pixels = load_images("digits", "test").scaled()
    keras_model = load_keras_model(work / "run/model.keras")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(keras_model(pixels, training=False)))
    loaded = tf.saved_model.load(str(work / "sm_check"))
    outputs = loaded.signatures["serving_default"](pixels=tf.constant(pixels))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["class_id"].numpy(), expected.argmax(-1))


def test_saved_model_loads_with_tensorflow_alone(trained):
    work, _ = trained
    run_cli("export", "run", "--out", "sm_alone", cwd=work)
    code = (
        "import sys, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "f = m.signatures['serving_default']\n"
        "out = f(pixels=tf.zeros([3, 8, 8]))\n"
        "assert not any(name.startswith('tfmodels') for name in sys.modules)\n"
        "print(out['probabilities'].shape, out['class_id'].dtype.name, out['class_name'].dtype.name)\n"
    )
    result = run_python_alone(code, work / "sm_alone")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 10) int32 string"


def test_predict_an_image_file(trained, tmp_path):
    work, _ = trained
    run_cli("export", "run", "--out", "sm_png", cwd=work)
    digit = load_images("digits", "test")
    png = tf.io.encode_png(tf.cast(digit.scaled()[0][..., None] * 255, tf.uint8)).numpy()
    (tmp_path / "digit.png").write_bytes(png)
    out = run_cli("predict", "sm_png", tmp_path / "digit.png", cwd=work)
    assert out.stdout.splitlines()[0].split() == ["example", "class", "probability", "name"]
    assert int(out.stdout.splitlines()[1].split()[1]) in range(10)


@pytest.mark.slow
def test_demo_runs_the_whole_job(tmp_path):
    # The console script, as the README's first command runs it.
    result = subprocess.run(["tfmodels", "demo", "--set", "trainer.epochs=1", "--set", "logging.verbose=0",
                             "--set", "trainer.warmup_steps=0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for line in ("digits, MLP:", "synthetic reviews, Transformer:", "synthetic reviews, bag of words:",
                 "pretrained (masked accuracy", "its SavedModel on 'the film is not bad but the ending is dull': ",
                 "character GPT: validation loss ", "  greedy: the film'", "tfmodels generate runs/demo/gpt_synthetic-"):
        assert line in result.stdout
    loss, uniform = re.search(r"character GPT: validation loss ([\d.]+) per character \(a uniform guess: ([\d.]+)\)",
                              result.stdout).groups()
    assert float(loss) < float(uniform) - 1.0  # 300 steps learn the reviews' spelling
    exports = [line.split(": ", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("SavedModel (")]
    assert len(exports) == 2 and all((tmp_path / e / "saved_model.pb").is_file() for e in exports)
    finetuned = yaml.safe_load(next((tmp_path / "runs/demo").glob("finetune_synthetic-*/config.yaml")).read_text())
    assert "mlm_synthetic-" in finetuned["init"]["from_run"]  # the fine-tuned run started from the pretraining run
    assert "tensorboard --logdir runs/demo" in result.stdout
    assert result.stderr.strip() == ""  # TensorFlow's start-up noise is kept out of the user's way


def test_help_explains_every_command():
    result = subprocess.run([sys.executable, "-m", "tfmodels", "--help"], capture_output=True, text=True, cwd=REPO)
    for command in ("train", "evaluate", "export", "predict", "demo"):
        assert command in result.stdout
    result = subprocess.run([sys.executable, "-m", "tfmodels", "train", "--help"], capture_output=True, text=True)
    assert "--set KEY=VALUE" in result.stdout and "--print-config" in result.stdout and "--run-dir" in result.stdout


def test_print_config_shows_resolved_config_without_training(tmp_path):
    out = run_cli("train", CONFIGS / "mlp_digits.yaml", "--set", "trainer.epochs=7", "--print-config", cwd=tmp_path)
    assert "epochs: 7" in out.stdout
    assert not (tmp_path / "runs").exists()


def test_help_and_version_start_without_tensorflow():
    """The command imports TensorFlow only for commands that use it (`import tfmodels` elsewhere does)."""
    code = ("import sys; sys.argv[0] = 'tfmodels'; import tfmodels.cli as cli\n"
            "try:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout + result.stderr
