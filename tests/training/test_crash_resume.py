"""Crashes lose nothing: a resumed run ends with the weights of a run that never stopped.

In process: a crash after an epoch, damaged backups. In fresh processes: SIGKILL at several moments
(mid-epoch, and wherever the timing lands: during a backup or a history write), then the same
command again until it finishes.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import CrashAfterEpoch, tiny_gpt

from tfmodels.config import apply_overrides, demo_config, load_config
from tfmodels.files import read_json
from tfmodels.training.resume import find_resume_point
from tfmodels.verbs.train import train

REPO = Path(__file__).resolve().parents[2]
# Dropout on (its random-number state must survive the resume), deterministic ops, early stopping on.
MLP = ["model.mlp.hidden_units=[32]", "model.mlp.dropout=0.3", "logging.verbose=0", "logging.histogram_freq=0",
       "runtime.deterministic=true", "trainer.epochs=6", "trainer.early_stopping_patience=2"]


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def _assert_same_weights(a, b):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


TIMINGS = ("examples_per_second", "tokens_per_second")  # wall-clock speeds differ from run to run


def _history(run: Path) -> list[dict]:
    """history.csv without its timing columns."""
    import csv

    with open(run / "history.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(f)]


def _train_crashing_after(config, run, epoch):
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, run, callbacks=[CrashAfterEpoch(epoch)])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = train(apply_overrides(demo_config(), MLP), run)
    return run, _weights(result.model)


def test_a_crash_after_an_epoch_resumes_to_the_same_weights(uninterrupted, tmp_path, monkeypatch):
    reference, weights = uninterrupted
    config = apply_overrides(demo_config(), MLP)
    _train_crashing_after(config, tmp_path / "run", 2)  # after the backup of epoch 3
    logs = []
    result = train(config, tmp_path / "run", log=logs.append)
    assert any("resuming after epoch 3 from epoch-000003.weights.h5" in line for line in logs), logs
    _assert_same_weights(_weights(result.model), weights)
    assert _history(tmp_path / "run") == _history(reference)


def test_a_damaged_backup_is_skipped_for_the_one_before(uninterrupted, tmp_path, monkeypatch):
    reference, weights = uninterrupted
    config = apply_overrides(demo_config(), MLP)
    run = tmp_path / "run"
    _train_crashing_after(config, run, 3)  # backups after epochs 3 and 4 are kept
    newest = run / "checkpoints" / "backup" / "epoch-000004.weights.h5"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated, as by a full disk
    logs = []
    result = train(config, run, log=logs.append)
    message = next(line for line in logs if "resuming" in line)
    assert "resuming after epoch 3" in message and "the backup after epoch 4" in message and "truncated" in message
    _assert_same_weights(_weights(result.model), weights)
    assert _history(run) == _history(reference)


def test_with_no_usable_backup_the_run_starts_over_and_says_so(uninterrupted, tmp_path, monkeypatch):
    reference, weights = uninterrupted
    config = apply_overrides(demo_config(), MLP)
    run = tmp_path / "run"
    _train_crashing_after(config, run, 1)
    for weights_file in (run / "checkpoints" / "backup").glob("*.weights.h5"):
        data = bytearray(weights_file.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, wrong checksum
        weights_file.write_bytes(bytes(data))
    assert find_resume_point(run / "checkpoints" / "backup").weights is None
    logs = []
    result = train(config, run, log=logs.append)
    message = next(line for line in logs if "backup" in line)
    assert message.startswith("no usable backup: training starts from the beginning") and "checksum" in message
    _assert_same_weights(_weights(result.model), weights)
    assert _history(run) == _history(reference)


def test_early_stopping_counts_across_a_resume(tmp_path, monkeypatch):
    """A resumed run stops at the epoch an uninterrupted one does (the wait is not reset to zero)."""
    # A learning rate too high for progress: the monitored loss stops improving after the first epochs.
    stalls = [*MLP, "trainer.epochs=30", "trainer.learning_rate=0.3", "trainer.optimizer=sgd"]
    config = apply_overrides(demo_config(), stalls)
    whole = train(config, tmp_path / "whole")
    stopped_at = whole.metrics["epochs_trained"]
    assert stopped_at < 30  # it did stop early
    _train_crashing_after(config, tmp_path / "resumed", stopped_at - 2)
    resumed = train(config, tmp_path / "resumed")
    assert resumed.metrics["epochs_trained"] == stopped_at  # the run's epochs; this launch trained the last one
    assert resumed.metrics["resumed_after_epoch"] == stopped_at - 1
    assert _history(tmp_path / "resumed") == _history(tmp_path / "whole")


# --- SIGKILL in a fresh process ------------------------------------------------------------------

def _command(config_file, overrides, run):
    argv = [sys.executable, "-m", "tfmodels", "train", str(config_file), "--run-dir", str(run)]
    for override in overrides:
        argv += ["--set", override]
    return argv


def _rows(run: Path) -> int:
    try:
        return max(0, len((run / "history.csv").read_text().splitlines()) - 1)
    except OSError:
        return 0


def _kill_when(argv, run: Path, rows: int, delay: float, timeout: float = 240) -> bool:
    """Starts `argv`, SIGKILLs it `delay` seconds after history.csv has `rows` rows; False if it finished first."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               cwd=run.parent)
    deadline = time.monotonic() + timeout
    while process.poll() is None and _rows(run) < rows and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    if process.poll() is not None:
        assert process.returncode == 0, process.stderr.read()[-2000:]
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return True


def _final_weights(run: Path) -> list[np.ndarray]:
    from tfmodels.saving import load_keras_model

    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"
    return _weights(load_keras_model(run / "model.keras"))


SMALL_ENCODER = ["model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2",
                 "model.encoder.ffn_dim=64", "data.tokenizer.vocabulary_size=300", "data.tokenizer.sequence_length=32",
                 "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"]


def _kill_rerun_and_compare(tmp_path, config_file, overrides, kills):
    """Trains once whole; trains again killed at each (history rows, delay) and rerun until it
    finishes; both end with the same weights and history."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_command(config_file, overrides, whole), check=True, capture_output=True, cwd=tmp_path,
                   timeout=600)
    argv = _command(config_file, overrides, killed)
    kills_done = sum(_kill_when(argv, killed, rows, delay) for rows, delay in kills)
    assert kills_done >= 2  # the run really was killed, more than once
    if read_json(killed / "metrics.json").get("status") != "finished":  # the last kill may have come after the end
        finish = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert finish.returncode == 0, finish.stderr[-3000:]
    _assert_same_weights(_final_weights(killed), _final_weights(whole))
    assert _history(killed) == _history(whole)
    config = apply_overrides(load_config(config_file), overrides)
    assert json.loads((killed / "metrics.json").read_text())["epochs_trained"] <= config.trainer.epochs


@pytest.mark.slow
@pytest.mark.parametrize("config_file,overrides,kills", [
    # Dropout, and a random rotation, shift and zoom of every training batch: both drawn anew each step.
    (REPO / "configs" / "mlp_digits.yaml",
     [*MLP, "trainer.epochs=8", "trainer.early_stopping_patience=0", "data.augment.enabled=true"],
     [(1, 0.0), (3, 0.05), (5, 0.1)]),
    (REPO / "configs" / "encoder_synthetic.yaml",
     ["data.train=synthetic?size=1000", "data.validation=synthetic?size=300", "data.test=null", "trainer.epochs=3",
      "model.encoder.dropout=0.1", "trainer.warmup_steps=10",
      "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"],
     [(0, 1.0), (1, 0.3)]),
    # Masks drawn anew every step, and dropout.
    (REPO / "configs" / "encoder_mlm.yaml",
     [*SMALL_ENCODER, "data.train=synthetic?size=1000", "trainer.epochs=3", "trainer.batch_size=32",
      "trainer.warmup_steps=10"],
     [(0, 1.0), (1, 0.3)]),
    # Gradient accumulation (4 micro-batches an update) and batches grouped by length: a kill inside a window.
    (REPO / "configs" / "encoder_synthetic.yaml",
     ["data.train=synthetic?size=1000", "data.validation=synthetic?size=300", "data.test=null", "trainer.epochs=3",
      "model.encoder.dropout=0.1", "trainer.warmup_steps=3", "trainer.batch_size=32",
      "trainer.gradient_accumulation_steps=4", "data.batch_by_length=true",
      "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"],
     [(0, 1.0), (1, 0.3)]),
    # A token classifier: per-word weights, batches by length, dropout; the F1 callback logs val_f1.
    (REPO / "configs" / "tagger_synthetic.yaml",
     ["trainer.epochs=3", "model.encoder.dropout=0.1", "model.head.dropout=0.1", "data.batch_by_length=true",
      "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"],
     [(0, 1.0), (1, 0.3)]),
    # A question answerer: windows of long contexts, batches by length, dropout; the answer callback logs val_f1.
    (REPO / "configs" / "qa_synthetic.yaml",
     ["trainer.epochs=3", "model.encoder.dropout=0.1", "model.head.dropout=0.1", "data.batch_by_length=true",
      "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"],
     [(0, 1.0), (1, 0.3)]),
    # An encoder-decoder: pairs batched by length, dropout, label smoothing; the decoding callback logs val_bleu.
    (REPO / "configs" / "s2s_synthetic.yaml",
     ["trainer.epochs=3", "model.seq2seq.dropout=0.1", "data.train=synthetic_s2s?size=800",
      "data.validation=synthetic_s2s?size=100", "data.test=null", "data.seq2seq.beam_size=1", "trainer.warmup_steps=10",
      "logging.verbose=0", "logging.histogram_freq=0", "runtime.deterministic=true"],
     [(0, 1.0), (1, 0.3)]),
], ids=["mlp_augmented", "transformer", "masked_lm", "accumulated_by_length", "tagger", "qa", "seq2seq"])
def test_sigkill_at_several_moments_then_the_same_command_ends_as_if_never_killed(tmp_path, config_file, overrides,
                                                                                     kills):
    _kill_rerun_and_compare(tmp_path, config_file, overrides, kills)


@pytest.mark.slow
def test_a_sigkilled_lora_finetune_ends_as_if_never_killed(tmp_path):
    """LoRA adapters on a pretrained encoder (frozen), killed and rerun: the same merged weights."""
    pretrained = tmp_path / "pretrained"
    train(apply_overrides(load_config(REPO / "configs" / "encoder_mlm.yaml"),
                          [*SMALL_ENCODER, "data.train=synthetic?size=1000", "trainer.epochs=1",
                           "trainer.batch_size=32", "trainer.warmup_steps=5"]), pretrained)
    overrides = [*SMALL_ENCODER, f"init.from_run={pretrained}", "data.train=synthetic?size=1000",
                 "data.validation=synthetic?size=200", "data.test=null", "trainer.epochs=3",
                 "trainer.finetune=lora", "trainer.lora_rank=4", "trainer.learning_rate=0.002",
                 "trainer.lora_targets=[attention, feed_forward, token_embedding]", "trainer.warmup_steps=10",
                 "trainer.early_stopping_patience=0"]
    _kill_rerun_and_compare(tmp_path, REPO / "configs" / "encoder_sst2_finetune.yaml", overrides,
                            [(0, 1.0), (1, 0.3)])


@pytest.mark.slow
def test_a_killed_export_leaves_nothing_or_a_whole_savedmodel(tmp_path):
    """`tfmodels export` killed at several moments: the export folder is absent or complete, never half."""
    train(apply_overrides(demo_config(), [*MLP, "trainer.epochs=1"]), tmp_path / "run")
    out = tmp_path / "exports" / "1"
    argv = [sys.executable, "-m", "tfmodels", "export", str(tmp_path / "run"), "--out", str(out)]
    killed = 0
    for delay in (1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 10.0, 60.0):
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            killed += 1
            if not out.exists():
                continue
            # Killed after its rename (the process was still shutting down): the folder must be whole.
            assert {"saved_model.pb", "tfmodels_export.json", "model.keras"} <= {p.name for p in out.iterdir()}
            break
        assert process.returncode == 0, process.stderr.read()[-2000:]
        break
    assert killed >= 1 and out.is_dir()
    assert sorted(p.name for p in out.parent.iterdir()) == ["1"]  # the killed ones' staging folders are gone
    predicted = subprocess.run([sys.executable, "-m", "tfmodels", "predict", str(out), "digits?split=test"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert predicted.returncode == 0 and "accuracy:" in predicted.stdout, predicted.stderr[-2000:]


@pytest.mark.slow
def test_a_sigkilled_gpt_ends_as_if_never_killed(tmp_path):
    """A causal LM: windows drawn from (seed, step), dropout on, killed mid-run and rerun."""
    overrides = tiny_gpt(tmp_path, "model.gpt.num_layers=1", "model.gpt.dropout=0.1", "trainer.max_steps=120",
                         "trainer.eval_interval=30", "trainer.batch_size=8", "logging.text_samples=1",
                         "logging.sample_tokens=20")
    _kill_rerun_and_compare(tmp_path, REPO / "configs" / "gpt_shakespeare_char.yaml", overrides,
                            [(0, 1.0), (1, 0.2), (2, 0.4)])
