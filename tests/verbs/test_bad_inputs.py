"""Each bad input stops before training with one clear line, a non-zero exit, and nothing half-written."""

import json

import numpy as np
import pytest
from conftest import CONFIGS

from tfmodels import cli

DIGITS = str(CONFIGS / "mlp_digits.yaml")
QUICK = ["--set", "trainer.epochs=1", "--set", "logging.verbose=0", "--set", "model.mlp.hidden_units=[8]"]

def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err.strip()

def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    for fragment in fragments:
        assert fragment in err, err

@pytest.mark.parametrize("overrides, fragments", [
    (["trainer.epoch=3"], ["unknown config key 'trainer.epoch': did you mean 'epochs'?"]),
    (["trainer.batch_size=big"], ["config key 'trainer.batch_size': expected int, got 'big'"]),
    (["data.train=csv:missing.csv"], ["data.train: data file 'missing.csv' does not exist"]),
    (["model.num_classes=5"], ["data.train ('digits'): label", "is outside 0..4"]),
    (["trainer.batch_size=5000"], ["has 1257 examples, fewer than one batch of 5000"]),
    (["trainer.epochs=0"], ["trainer.epochs must be at least 1, got 0"]),
    (["runtime.strategy=multi_worker"], ["runtime.strategy=multi_worker needs the cluster in the TF_CONFIG",
                                         "tfmodels launch --workers 2"]),
    (["runtime.num_cpu_devices=-1"], ["runtime.num_cpu_devices must be 0 (leave the CPU as it is) or more, got -1"]),
    # The test process's TensorFlow started long ago with one CPU device.
    (["runtime.num_cpu_devices=3"], ["runtime.num_cpu_devices=3, but TensorFlow in this process has already started"]),
])
def test_bad_config_values(workdir, capsys, monkeypatch, overrides, fragments):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    args = [a for kv in overrides for a in ("--set", kv)]
    code, err = run(capsys, "train", DIGITS, "--run-dir", "run", *QUICK, *args)
    assert_one_line_error(code, err, *fragments)
    assert not (workdir / "run").exists()

@pytest.mark.parametrize("content, fragments", [
    ("1,2,3,4,0\n1,2,3,1\n", ["line 2: 4 columns, but line 1 has 5"]),
    ("", ["is empty"]),
    ("\n\n", ["is empty"]),
    ("1,2,3,4,0\n1,2,3,4,zero\n", ["line 2, column 5: 'zero' is not a number"]),
])
def test_bad_data_files(workdir, capsys, content, fragments):
    (workdir / "data.csv").write_text(content)
    code, err = run(capsys, "train", DIGITS, "--run-dir", "run", *QUICK, "--set", "data.train=csv:data.csv",
                    "--set", "data.validation=null", "--set", "data.test=null")
    assert_one_line_error(code, err, "data.train:", *fragments)
    assert not (workdir / "run").exists()

def test_unreadable_data_file(workdir, capsys):
    (workdir / "data.csv").write_bytes(b"\x1f\x8b not really gzip")
    code, err = run(capsys, "train", DIGITS, "--run-dir", "run", *QUICK, "--set", "data.train=csv:data.csv")
    assert_one_line_error(code, err, "data file 'data.csv' cannot be read")

def test_missing_and_misspelt_config_file(workdir, capsys):
    code, err = run(capsys, "train", "configs/nothere.yaml")
    assert_one_line_error(code, err, "config file 'configs/nothere.yaml' does not exist")
    (workdir / "bad.yaml").write_text("trainer:\n  optimiser: adam\n")
    code, err = run(capsys, "train", "bad.yaml")
    assert_one_line_error(code, err, "bad.yaml: unknown config key 'trainer.optimiser': did you mean 'optimizer'?")

def test_finished_run_folder_is_not_overwritten(workdir, capsys):
    assert cli.main(["train", DIGITS, "--run-dir", "run", *QUICK]) == 0
    before = (workdir / "run" / "metrics.json").read_text()
    code, err = run(capsys, "train", DIGITS, "--run-dir", "run", *QUICK)
    assert_one_line_error(code, err, "run folder 'run' already holds a finished run; --overwrite trains again in it "
                          "(its files are deleted first), another --run-dir keeps both, and without --run-dir a new "
                          "folder is named by the time")
    assert (workdir / "run" / "metrics.json").read_text() == before
    assert json.loads(before)["status"] == "finished"
    (workdir / "run" / "mine.txt").write_text("a note of the old run")
    assert cli.main(["train", DIGITS, "--run-dir", "run", "--overwrite", *QUICK]) == 0
    assert json.loads((workdir / "run" / "metrics.json").read_text())["status"] == "finished"
    assert not (workdir / "run" / "mine.txt").exists()

def test_evaluate_export_predict_on_what_is_not_there(workdir, capsys):
    code, err = run(capsys, "evaluate", "norun")
    assert_one_line_error(code, err, "run folder 'norun' does not exist")
    (workdir / "half").mkdir()
    code, err = run(capsys, "export", "half")
    assert_one_line_error(code, err, "holds no finished run")
    code, err = run(capsys, "predict", "half", "digits")
    assert_one_line_error(code, err, "'half' is not a SavedModel folder")
    assert not (workdir / "savedmodels").exists()

def test_debug_shows_the_traceback(workdir, capsys):
    code = cli.main(["--debug", "train", "nothere.yaml"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "error: config file 'nothere.yaml' does not exist" in err

def test_errors_on_a_real_run(workdir, capsys):
    assert cli.main(["train", DIGITS, "--run-dir", "run", *QUICK, "--set", "data.test=null"]) == 0
    code, err = run(capsys, "evaluate", "run")  # no test set: falls back to validation
    assert code == 0
    code, err = run(capsys, "evaluate", "run", "--split", "test")
    assert_one_line_error(code, err, "this run has no 'test' set (its splits: train, validation)")

    assert cli.main(["export", "run", "--out", "exported"]) == 0
    np_file = workdir / "wide.npz"

    np.savez(np_file, x=np.zeros((2, 28, 28)), y=np.zeros(2, int))
    code, err = run(capsys, "predict", "exported", str(np_file))
    assert_one_line_error(code, err, "the model takes inputs of shape [8, 8], the input has [28, 28]")
    np.savez(np_file, x=np.zeros((0, 8, 8)), y=np.zeros(0, int))
    code, err = run(capsys, "predict", "exported", str(np_file))
    assert_one_line_error(code, err, "holds no examples (an empty data set)")

    (workdir / "run" / "model.keras").write_bytes(b"not a zip file")
    code, err = run(capsys, "export", "run", "--out", "again")
    assert_one_line_error(code, err, "model file 'run/model.keras' is damaged or not a .keras file")
    assert not (workdir / "again").exists()


TEXT = str(CONFIGS / "encoder_synthetic.yaml")
TEXT_QUICK = [*QUICK, "--set", "data.train=synthetic?size=300"]


@pytest.mark.parametrize("overrides, fragments", [
    (["model.encoder.width=66"], ["model.encoder.width=66 is not divisible by model.encoder.num_heads=4",
                                  "e.g. width=64"]),
    (["data.tokenizer.sequence_length=1"], ["data.tokenizer.sequence_length must be at least 2"]),
    (["model.encoder.initializer_range=0"], ["model.encoder.initializer_range must be positive (BERT uses 0.02)"]),
    (["model.encoder.layer_norm_epsilon=0"], ["model.encoder.layer_norm_epsilon must be positive, got 0"]),
    (["model.encoder.activation=gelu_tanh"], ["model.encoder.activation 'gelu_tanh' is not an activation",
                                              "gelu_approximate"]),
    (["data.tokenizer.vocabulary_size=3"], ["vocabulary_size must be larger than the 5 reserved tokens"]),
    (["model.type=bag_of_words"], ["model.type=bag_of_words averages the word embeddings: set model.head.pooling=mean"]),
    (["model.type=mlp"], ["data.train: data spec 'synthetic?size=300': 'synthetic' is a text source"]),
    (["data.train=digits"], ["'digits' is an image source, but this model takes text"]),
])
def test_bad_text_configs(workdir, capsys, overrides, fragments):
    args = [a for kv in overrides for a in ("--set", kv)]
    code, err = run(capsys, "train", TEXT, "--run-dir", "run", *TEXT_QUICK, *args)
    assert_one_line_error(code, err, *fragments)
    assert not (workdir / "run").exists()


@pytest.mark.parametrize("content, extra, fragments", [
    (b"1\tgood\n5\tbad\n", ["model.num_classes=2"], ["label 5 at example 1 is outside 0..1"]),
    (b"1\tgood\n0\tb\xe9d\n", [], ["line 2: invalid UTF-8"]),
    (b"", [], ["is empty"]),
    (b"1\tgood\n\n0\tbad\n", [], ["line 2 is empty"]),
    (b"label\tsentence\n1\tgood\n", ["data.text.text_column=review"], ["no text column named 'review'"]),
    # Class names in one set, integer labels in another (the synthetic validation set).
    (b"1\tgood\nx\tbad\n", ["data.text.header=false"], ["label 'x' is not an integer, as the other labels are"]),
    (b"pos\tgood\nneg\tbad\n", ["data.text.header=false"], ["data.validation ('synthetic') has integer labels, "
                                                              "but data.train labels its examples by class name"]),

])
def test_bad_text_files(workdir, capsys, content, extra, fragments):
    (workdir / "data.tsv").write_bytes(content)
    args = [a for kv in ["data.train=tsv:data.tsv", "data.validation=synthetic", *extra] for a in ("--set", kv)]
    code, err = run(capsys, "train", TEXT, "--run-dir", "run", *QUICK, *args)
    assert_one_line_error(code, err, "data.train", *fragments)
    assert not (workdir / "run").exists()


def test_bad_class_names(workdir, capsys):
    """A test set's class that training never saw; a class-name list that is not one; a config key twice."""
    (workdir / "data.tsv").write_bytes(b"spam\tbuy now\nham\thello\nham\thi there\nspam\tcheap pills\n")
    (workdir / "test.tsv").write_bytes(b"spma\tbuy now\n")
    base = ["--set", "data.train=tsv:data.tsv", "--set", "data.validation=null", "--set",
            "data.validation_fraction=0.5", "--set", "trainer.batch_size=2"]
    code, err = run(capsys, "train", TEXT, "--run-dir", "run", *QUICK, *base, "--set", "data.test=tsv:test.tsv")
    assert_one_line_error(code, err, "data.test ('tsv:test.tsv'): example 0 ('buy now') has the class 'spma', "
                                     "which is not one of "
                                     "the training set's classes (ham, spam)")
    code, err = run(capsys, "train", TEXT, "--run-dir", "run", *QUICK, *base, "--set", "data.text.class_names=[spam]")
    assert_one_line_error(code, err, "data.text.class_names must be two or more different, non-empty names")
    code, err = run(capsys, "train", TEXT, "--run-dir", "run", *QUICK, *base, "--set", "data.test=null",
                    "--set", "data.text.class_names=[spam, eggs]")
    assert_one_line_error(code, err, "data.train ('tsv:data.tsv'): example", "has the class 'ham', which is not one of "
                                     "data.text.class_names (spam, eggs)")
    (workdir / "twice.yaml").write_text("name: twice\ntrainer:\n  epochs: 1\n  batch_size: 8\n  epochs: 50\n")
    code, err = run(capsys, "train", "twice.yaml")
    assert_one_line_error(code, err, "config file 'twice.yaml': the key 'epochs' is given twice: at line 3 and at "
                                     "line 5; keep one")
    assert not (workdir / "run").exists()


MLM = str(CONFIGS / "encoder_mlm.yaml")


def test_bad_pretraining_inputs(workdir, capsys):
    (workdir / "tiny.txt").write_text("just a few words\n")
    code, err = run(capsys, "train", MLM, "--run-dir", "run", *QUICK, "--set", "data.train=text:tiny.txt",
                    "--set", "data.validation=text:tiny.txt")
    assert_one_line_error(code, err, "the corpus has 14 tokens, fewer than one sequence of 63")
    code, err = run(capsys, "train", MLM, "--run-dir", "run", *QUICK, "--set", "model.masked_lm.mask_rate=1.5")
    assert_one_line_error(code, err, "model.masked_lm.mask_rate must be in [0, 1], got 1.5")
    code, err = run(capsys, "train", DIGITS, "--run-dir", "run", *QUICK, "--set", "trainer.finetune=lora")
    assert_one_line_error(code, err, "trainer.finetune='lora' is for text classifiers")
    code, err = run(capsys, "train", str(CONFIGS / "bow_synthetic.yaml"), "--run-dir", "run", *QUICK,
                    "--set", "data.train=synthetic?size=300", "--set", "trainer.finetune=gradual")
    assert_one_line_error(code, err, "trainer.finetune=gradual unfreezes encoder blocks")
    assert not (workdir / "run").exists()

    assert cli.main(["train", MLM, "--run-dir", "mlm", *QUICK, "--set", "data.train=synthetic?size=500",
                     "--set", "trainer.warmup_steps=0", "--set", "model.encoder.width=32",
                     "--set", "data.tokenizer.vocabulary_size=200"]) == 0
    (workdir / "empty.txt").write_text("\n\n")
    code, err = run(capsys, "evaluate", "mlm", "--data", "text:empty.txt")
    assert_one_line_error(code, err, "data spec 'text:empty.txt' gives no examples (an empty data set)")
    code, err = run(capsys, "evaluate", "mlm", "--data", "text:tiny.txt")
    assert_one_line_error(code, err, "evaluation data 'text:tiny.txt': the corpus has 11 tokens, fewer than one sequence")
    assert cli.main(["export", "mlm", "--out", "features"]) == 0
    code, err = run(capsys, "predict", "features", "a good film")
    assert_one_line_error(code, err, "'features' is not a classifier (its outputs: padding_mask, pooled_output, "
                                     "sequence_output)")


def test_a_truncated_adapters_file_is_one_line_not_a_traceback(tmp_path):
    """Found by a user: `generate RUN PROMPT --adapters adapters.npz` with a truncated file ended in
    `zipfile.BadZipFile`; the reader now says what the file is and what to do."""
    from tfmodels.errors import RunDirError
    from tfmodels.saving import read_adapters

    whole = tmp_path / "adapters.npz"
    np.savez(whole, __meta__=np.frombuffer(b'{"format": 1}', np.uint8), a=np.ones((64, 64), np.float32))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(RunDirError, match="is not an adapters file written by a LoRA run \\(damaged or truncated") as e:
        read_adapters(truncated)
    assert "\n" not in str(e.value) and "train it again" in str(e.value)
