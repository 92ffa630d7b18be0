"""tfmodels/layers/dropout.py: Dropout16, dropout with masks drawn from 16-bit numbers."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_layer_test

from tfmodels.layers import Dropout16

# --- Dropout16 ------------------------------------------------------------------------------------


def test_dropout16_passes_the_battery(tmp_path):
    x = np.random.default_rng(0).normal(size=(3, 12, 32)).astype(np.float32)
    run_layer_test(Dropout16, {"rate": 0.2, "seed": 3}, x, (3, 12, 32), 0, tmp_path, expected_num_params=0)


def test_dropout16_drops_the_rate_and_keeps_the_mean():
    x = np.ones((256, 64, 64), np.float32)  # 1,048,576 elements
    y = Dropout16(0.1, seed=1)(x, training=True).numpy()
    dropped = np.mean(y == 0)
    assert abs(dropped - 6554 / 65536) < 0.002, dropped  # the rate in force: round(0.1 * 65536) / 65536
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 65536 / (65536 - 6554), rtol=1e-6)  # inverted dropout's exact scale
    assert abs(y.mean() - 1.0) < 0.005  # the expected output equals the input


def test_dropout16_is_identity_in_inference_and_at_rate_zero():
    x = np.random.default_rng(1).normal(size=(4, 10)).astype(np.float32)
    np.testing.assert_array_equal(Dropout16(0.5, seed=1)(x, training=False).numpy(), x)
    np.testing.assert_array_equal(Dropout16(0.0)(x, training=True).numpy(), x)
    assert not Dropout16(0.0).variables  # no random state, as keras.layers.Dropout(0.0)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        Dropout16(1.0)


def test_dropout16_masks_follow_the_seed_state():
    x = np.ones((8, 1000), np.float32)
    a, b = Dropout16(0.3, seed=7), Dropout16(0.3, seed=7)
    first_a, first_b = a(x, training=True).numpy(), b(x, training=True).numpy()
    np.testing.assert_array_equal(first_a, first_b)  # same seed, same masks
    assert not np.array_equal(first_a, a(x, training=True).numpy())  # a new mask each call
    assert any("seed_generator_state" in v.path for v in a.variables)  # saved with the run's backups


def test_dropout16_in_bfloat16_keeps_the_dtype():
    y = Dropout16(0.1, seed=2, dtype="mixed_bfloat16")(np.ones((4, 100), np.float32), training=True)
    assert y.dtype == tf.bfloat16
