"""The training driver in process: resuming after a crash, divergence, starting from another run."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import CrashAfterEpoch

from tfmodels.config import apply_overrides, demo_config
from tfmodels.errors import RunDirError, TrainingDivergedError
from tfmodels.files import read_json
from tfmodels.models import build_image_model
from tfmodels.run_folder import RunPaths
from tfmodels.tasks import task_for
from tfmodels.verbs.train import train

SMALL = ["model.mlp.hidden_units=[32]", "logging.verbose=0", "logging.histogram_freq=0"]


def small_config(*overrides):
    return apply_overrides(demo_config(), [*SMALL, *overrides])


def test_rerun_after_a_crash_resumes_where_it_stopped(workdir):
    config = small_config("trainer.epochs=5", "trainer.early_stopping_patience=0")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, "run", callbacks=[CrashAfterEpoch(2)])  # after the backup of epoch 3
    assert read_json("run/metrics.json") == {}

    result = train(config, "run")
    assert result.metrics["status"] == "finished"
    assert result.metrics["epochs_trained"] == 5 and result.metrics["resumed_after_epoch"] == 3  # 4 and 5 here
    with open("run/history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1, 2, 3, 4]
    with pytest.raises(RunDirError, match="already holds a finished run"):
        train(config, "run")
    again = train(config)  # no folder given: runs/<name> is new, then finished, then a folder named by the time
    assert again.paths.root == Path("runs") / config.name and again.metrics["status"] == "finished"
    lines = []
    third = train(config, log=lines.append)
    assert third.paths.root.name.startswith(f"{config.name}-") and third.metrics["status"] == "finished"
    assert f"runs/{config.name} holds a finished run: this one trains in {third.paths.root}" in lines[0]


def test_non_finite_loss_stops_with_the_step_and_marks_the_run(workdir):
    config = small_config("trainer.optimizer=sgd", "trainer.learning_rate=1e12", "model.mlp.normalization=none")
    with pytest.raises(TrainingDivergedError, match=r"the loss became nan at epoch 1, step \d+; likely causes"):
        train(config, "run")
    metrics = read_json("run/metrics.json")
    assert metrics["status"] == "diverged" and metrics["failure"]["epoch"] == 1


class PlantedSpike(keras.callbacks.Callback):
    """Multiplies every trainable weight by 1e4 after step `step` of epoch `epoch`, up to `times` times:
    the next step's loss explodes."""

    def __init__(self, epoch, step, times=1):
        super().__init__()
        self.epoch, self.step, self.times, self._current = epoch, step, times, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.times and self._current == self.epoch and batch == self.step:
            self.times -= 1
            for w in self.model.trainable_weights:
                w.assign(w * 1e4)


def test_a_loss_spike_rolls_back_to_the_last_backup_with_a_lower_learning_rate(workdir):
    """A planted spike in epoch 3: the run goes back to the backup after epoch 2, at half the learning
    rate, says so, records it, and finishes with finite weights; its history has one row an epoch."""
    recovery = ["trainer.epochs=4", "trainer.early_stopping_patience=0", "trainer.recovery.max_trials=2",
                "trainer.recovery.loss_upper_bound=50"]
    logs = []
    result = train(small_config(*recovery), "run", log=logs.append, callbacks=[PlantedSpike(epoch=2, step=3)])
    said = [line for line in logs if line.startswith("loss spike")]
    assert len(said) == 1 and "at epoch 3, step 5" in said[0], said
    assert "rolling back to the backup after epoch 2 with the learning rate x0.5" in said[0]
    assert "recovery 1 of 2" in said[0]
    (record,) = result.metrics["recoveries"]
    assert record["epoch"] == 3 and record["rolled_back_to_epoch"] == 2 and float(record["loss"]) > 50
    assert result.metrics["status"] == "finished"
    assert all(np.isfinite(np.asarray(w)).all() for w in result.model.weights)
    with open("run/history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1, 2, 3]


def test_recovery_is_bounded_and_a_spike_in_the_first_epoch_goes_back_to_the_start(workdir):
    recovery = ["trainer.epochs=2", "trainer.recovery.max_trials=2", "trainer.recovery.loss_upper_bound=50"]
    logs = []
    with pytest.raises(TrainingDivergedError, match=r"at epoch 1, step 3 after 2 rollback\(s\) \(trainer.recovery\)"):
        train(small_config(*recovery), "run", log=logs.append, callbacks=[PlantedSpike(epoch=0, step=1, times=5)])
    said = [line for line in logs if line.startswith("loss spike")]
    assert len(said) == 2 and all("rolling back to the start" in line for line in said)
    assert "x0.25" in said[1]
    metrics = read_json("run/metrics.json")
    assert metrics["status"] == "diverged" and len(metrics["recoveries"]) == 2


def test_init_from_run_copies_weights_and_checks_shapes(workdir):
    first = train(small_config("trainer.epochs=1"), "first")
    model = build_image_model(small_config().model, np.zeros((4, 8, 8), np.float32), 10)
    task_for(small_config()).warm_start(model, RunPaths("first"))
    for mine, theirs in zip(model.weights, first.model.weights):
        np.testing.assert_array_equal(np.array(mine), np.array(theirs))

    other = build_image_model(small_config("model.mlp.hidden_units=[16]").model,
                                       np.zeros((4, 8, 8), np.float32), 10)
    with pytest.raises(RunDirError, match=r"has shape \(64, 16\) here but \(64, 32\) in 'first'"):
        task_for(small_config()).warm_start(other, RunPaths("first"))
    with pytest.raises(RunDirError, match="run folder 'nowhere' does not exist"):
        train(small_config("init.from_run=nowhere"), "second")
    assert not (workdir / "second").exists()


def test_same_seed_same_result(workdir):
    a = train(small_config("trainer.epochs=2", "runtime.deterministic=true"), "a")
    b = train(small_config("trainer.epochs=2", "runtime.deterministic=true"), "b")
    for wa, wb in zip(a.model.weights, b.model.weights):
        np.testing.assert_array_equal(np.array(wa), np.array(wb))


def test_training_curves_png_after_train_and_evaluate(workdir):
    from PIL import Image

    from tfmodels.verbs.evaluate import evaluate_run

    train(small_config("trainer.epochs=2"), "run")
    png = workdir / "run" / "training_curves.png"
    image = Image.open(png)
    assert image.format == "PNG" and image.size == (800, 320)  # two panels: loss and accuracy, 4 x 3.2 in at 100 dpi
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # curves were drawn, not a blank canvas
    png.unlink()
    evaluate_run("run")
    assert png.is_file()


def test_tensorboard_shows_config_hparams_throughput_and_learning_rate(workdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(small_config("trainer.epochs=2", "trainer.learning_rate=0.002"), "run")
    train_events = EventAccumulator(str(workdir / "run/logs/train")).Reload()
    tags = set(train_events.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_examples_per_second",
            "epoch_gradient_norm"} <= tags, tags
    norms = [float(tf_value(e)) for e in train_events.Tensors("epoch_gradient_norm")]
    assert all(0 < n < 1e3 for n in norms), norms
    learning_rates = [float(tf_value(e)) for e in train_events.Tensors("epoch_learning_rate")]
    np.testing.assert_allclose(learning_rates, [0.002, 0.002])  # the constant schedule
    assert all(float(tf_value(e)) > 0 for e in train_events.Tensors("epoch_examples_per_second"))

    run_events = EventAccumulator(str(workdir / "run/logs/run")).Reload()
    run_tags = set(run_events.Tags()["tensors"])
    config_text = tf_value(run_events.Tensors("config")[0]).decode()
    assert "learning_rate: 0.002" in config_text
    assert "_hparams_/session_start_info" in run_tags  # the HParams dashboard's record of this run
    final = float(tf_value(run_events.Tensors("final/test/accuracy")[0]))
    assert final == pytest.approx(result.metrics["test"]["accuracy"])


def tf_value(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto).item()


def test_logging_profile_writes_a_profiler_trace(workdir):
    train(small_config("trainer.epochs=1", "logging.profile=true"), "run")
    traces = list((workdir / "run/logs").rglob("*.xplane.pb"))
    assert traces and traces[0].stat().st_size > 0
