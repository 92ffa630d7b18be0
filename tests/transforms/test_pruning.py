"""Magnitude pruning while training: the schedule, exact masks, a pruned run's kernels exactly at the target,
its sparsity in history.csv and TensorBoard, and the config's range."""

import csv

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfmodels.config import apply_overrides, demo_config
from tfmodels.errors import ConfigError
from tfmodels.saving import load_keras_model
from tfmodels.transforms.pruning import magnitude_mask, polynomial_sparsity, sparsity_of
from tfmodels.verbs.train import train


def test_the_schedule_is_cubic_from_begin_to_end_and_masks_are_exact():
    assert polynomial_sparsity(5, 0.8, 10, 110) == 0.0
    assert polynomial_sparsity(10, 0.8, 10, 110) == 0.0
    assert polynomial_sparsity(60, 0.8, 10, 110) == pytest.approx(0.8 * (1 - 0.5**3))
    assert polynomial_sparsity(110, 0.8, 10, 110) == pytest.approx(0.8)
    assert polynomial_sparsity(500, 0.8, 10, 110) == pytest.approx(0.8)
    values = np.random.default_rng(0).normal(size=(37, 11))
    values[0, :5] = 0.0  # ties at zero: still exactly round(s * n) pruned
    for sparsity in (0.0, 0.3, 0.75, 0.99):
        mask = magnitude_mask(values, sparsity)
        assert (~mask).sum() == round(sparsity * values.size)
        if 0 < sparsity:
            assert np.abs(values[~mask]).max() <= np.abs(values[mask]).min()  # the smallest went


def test_a_pruned_run_keeps_exactly_sparse_kernels_and_logs_its_sparsity(tmp_path):
    config = apply_overrides(demo_config(), ["logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=8",
                                             "trainer.pruning.target_sparsity=0.75", "trainer.pruning.update_every=5"])
    result = train(config, tmp_path / "run")
    model = load_keras_model(tmp_path / "run" / "model.keras")
    sparsity = sparsity_of(model)
    assert len(sparsity) == 3 and all(v == pytest.approx(0.75, abs=1e-3) for v in sparsity.values()), sparsity
    assert result.metrics["sparsity"]["kernels"] == pytest.approx(sparsity)
    assert result.metrics["sparsity"]["weights_gzip_bytes"] < result.metrics["sparsity"]["weights_bytes"]
    assert result.metrics["test"]["accuracy"] > 0.9
    with open(tmp_path / "run" / "history.csv") as f:
        curve = [float(row["sparsity"]) for row in csv.DictReader(f)]
    assert curve == sorted(curve) and curve[0] < 0.5 and curve[-1] == pytest.approx(0.75, abs=1e-3)
    events = EventAccumulator(str(tmp_path / "run" / "logs" / "run"))
    events.Reload()
    tags = events.Tags()["tensors"]
    assert "sparsity/all_pruned_kernels" in tags and sum(t.startswith("sparsity/") for t in tags) == 4
    last = tf.make_ndarray(events.Tensors("sparsity/all_pruned_kernels")[-1].tensor_proto)
    assert float(last) == pytest.approx(curve[-1], abs=1e-6)


@pytest.mark.parametrize("override,message", [
    ("trainer.pruning.target_sparsity=1", r"trainer.pruning.target_sparsity must be in \[0, 1\)"),
    ("trainer.pruning.target_sparsity=-0.1", r"trainer.pruning.target_sparsity must be in \[0, 1\)"),
    ("trainer.pruning.end_step=0", r"trainer.pruning.end_step=0 must come after trainer.pruning.begin_step=0"),
])
def test_the_pruning_config_refuses_what_cannot_be(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(demo_config(), [override]).validate()
