import keras
import numpy as np
import pytest
from helpers import run_layer_test

from tfmodels.config import ModelConfig
from tfmodels.models import MLPClassifier, build_image_model

RNG = np.random.default_rng(0)
IMAGES = RNG.random((16, 8, 8), dtype=np.float32)
LABELS = RNG.integers(0, 10, size=16)


@pytest.mark.parametrize("kwargs, trainable, params", [
    ({}, 2 + 2 + 2, (64 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)),  # two hidden Dense layers and the logits
    ({"hidden_units": [32, 16], "activation": "gelu", "dropout": 0.5, "batch_norm": True,
      "normalization": "per_feature"}, 2 * (1 + 2) + 2,
     (64 * 32 + 2 * 32) + (32 * 16 + 2 * 16) + (16 * 10 + 10)),  # no bias before a batch norm (gamma, beta)
    ({"hidden_units": [8], "normalization": "none"}, 2 + 2, (64 * 8 + 8) + (8 * 10 + 10)),
])
def test_mlp_battery(kwargs, trainable, params, tmp_path):
    run_layer_test(MLPClassifier, {"num_classes": 10, **kwargs}, IMAGES, (16, 10), trainable, tmp_path,
                   expected_num_params=params, targets=LABELS, prepare=lambda m: m.adapt(IMAGES), output_dtype="float32")


def test_default_parameter_count_is_pinned():
    # 8x8 inputs -> 256 -> 128 -> 10: (64*256 + 256) + (256*128 + 128) + (128*10 + 10)
    model = build_image_model(ModelConfig(), IMAGES, num_classes=10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 50_826


def test_global_normalisation_is_adapted_and_saved(tmp_path):
    model = MLPClassifier(num_classes=3, hidden_units=[4])
    x = np.full((10, 2, 2), 5.0, np.float32) + np.arange(10, dtype=np.float32)[:, None, None]
    model.adapt(x)
    assert float(np.squeeze(model.input_norm.mean)) == pytest.approx(9.5)
    assert float(np.squeeze(model.input_norm.variance)) == pytest.approx(np.var(np.arange(10.0)), rel=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert float(np.squeeze(reloaded.input_norm.mean)) == pytest.approx(9.5)


def test_per_feature_normalisation_floors_constant_pixels():
    # Pixel 0 never varies in training; a test image with it set must not explode.
    x = RNG.random((50, 4), dtype=np.float32)
    x[:, 0] = 0.0
    model = MLPClassifier(num_classes=2, hidden_units=[4], normalization="per_feature")
    model.adapt(x)
    normalised = model.input_norm(np.array([[1.0, 0.5, 0.5, 0.5]], np.float32))
    assert float(abs(normalised[0, 0])) < 10.0


def test_logits_stay_float32_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = MLPClassifier(num_classes=10, hidden_units=[16])
        model.adapt(IMAGES)
        assert model(IMAGES).dtype == "float32"
        assert model.hidden_layers[0].compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 1}, "num_classes must be at least 2"),
    ({"num_classes": 10, "hidden_units": []}, "hidden_units must be a non-empty list"),
    ({"num_classes": 10, "dropout": 1.0}, "dropout must be in"),
    ({"num_classes": 10, "normalization": "batch"}, "normalization must be"),
])
def test_bad_hyperparameters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**kwargs)
