"""The test battery every layer and model passes (after keras-hub's `TestCase.run_layer_test`).

Output shape, `get_config` round trip through JSON, `.keras` save -> load with equal outputs,
and one `fit` step that changes the weights and gives a finite loss.
"""

import json
import subprocess
import sys

import keras
import numpy as np


def run_cli(*args, cwd, check=True):
    """Runs `python -m tfmodels ARGS` in `cwd`, as a user would; asserts exit 0 unless `check=False`."""
    result = subprocess.run([sys.executable, "-m", "tfmodels", *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_python_alone(code: str, *args) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter outside the repository (so nothing of tfmodels is importable by accident)."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd="/",
                          timeout=300)


def run_model_battery(make, inputs, expected_output_shape, targets=None, tmp_path=None, prepare=None):
    """`make()` builds a fresh instance; `prepare(instance)` runs before its first call (e.g. adapt).

    A layer (not a model) is wrapped in a one-layer model for the save and fit checks, and fitted
    to zeros. Float targets are fitted with a mean squared error, integer targets (class ids) with
    cross-entropy on logits.
    """
    model = make()
    if prepare:
        prepare(model)
    outputs = model(inputs, training=False)
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))

    # get_config round trip: the config survives JSON and rebuilds an equal config.
    config = model.get_config()
    rebuilt = type(model).from_config(json.loads(json.dumps(config)))
    rebuilt(inputs)  # built as the original is (a nested model's config records its build)
    as_json = lambda c: json.loads(json.dumps(c))  # noqa: E731  (tuples and lists compare equal)
    assert as_json(rebuilt.get_config()) == as_json(config)

    is_layer = not isinstance(model, keras.Model)
    if is_layer:
        layer = model
        model = keras.Sequential([keras.Input(inputs.shape[1:], dtype=inputs.dtype), layer])
        targets = np.zeros(tuple(expected_output_shape), np.float32)

    # .keras round trip: the reloaded model gives the same outputs.
    if tmp_path is not None:
        path = tmp_path / "battery.keras"
        model.save(path)
        reloaded = keras.models.load_model(path, safe_mode=True)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(reloaded(inputs, training=False)),
            keras.ops.convert_to_numpy(outputs), atol=1e-5, rtol=1e-5,
        )
        assert type(reloaded.layers[-1] if is_layer else reloaded) is type(layer if is_layer else model)

    # One fit step moves the weights and gives a finite loss (for a layer that has weights).
    if targets is not None and model.trainable_weights:
        before = [np.array(w) for w in model.trainable_weights]
        targets = np.asarray(targets)
        loss = "mse" if targets.dtype.kind == "f" else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
        history = model.fit(inputs, targets, batch_size=len(targets), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [np.array(w) for w in model.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(before, after))
    return model


class CrashAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based), after the callbacks before it have run: a crash."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")
