"""The test battery every layer and model passes (after keras-hub's `TestCase.run_layer_test`).

Output shape, `get_config` round trip through JSON, `.keras` save -> load with equal outputs,
and one `fit` step that changes the weights and gives a finite loss.
"""

import json

import keras
import numpy as np


def run_model_battery(make, inputs, expected_output_shape, targets=None, tmp_path=None, prepare=None):
    """`make()` builds a fresh instance; `prepare(instance)` runs before its first call (e.g. adapt)."""
    model = make()
    if prepare:
        prepare(model)
    outputs = model(inputs, training=False)
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))

    # get_config round trip: the config survives JSON and rebuilds an equal config.
    config = model.get_config()
    rebuilt = type(model).from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config

    # .keras round trip: the reloaded model gives the same outputs.
    if tmp_path is not None:
        path = tmp_path / "battery.keras"
        model.save(path)
        reloaded = keras.models.load_model(path, safe_mode=True)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(reloaded(inputs, training=False)),
            keras.ops.convert_to_numpy(outputs), atol=1e-5, rtol=1e-5,
        )
        assert type(reloaded) is type(model)

    # One fit step moves the weights and gives a finite loss.
    if targets is not None:
        before = [np.array(w) for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(inputs, targets, batch_size=len(targets), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [np.array(w) for w in model.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(before, after))
    return model
