"""Test helpers: the battery every layer and model passes (`run_layer_test`, after keras-hub's
`TestCase.run_layer_test`), running the command line, and a crash at a chosen epoch."""

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
                          timeout=900)  # generous: a loaded CI machine runs it several times slower


PRECISIONS = {"mixed_bfloat16": 0.05, "mixed_float16": 0.01}  # policy: largest relative error allowed vs float32


def _numpy(x):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, x)


def _relative_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, expected_num_trainable_weights,
                   tmp_path, *, expected_num_params, targets=None, prepare=None, output_dtype=None,
                   run_precision_checks=True):
    """The battery every layer and model passes, in the shape of keras-hub's `TestCase.run_layer_test`.

    `init_kwargs` is the constructor's arguments, or for a model made of other layers a function
    `dtype -> kwargs` that makes them (under that dtype policy; None: the global one). `prepare(instance)`
    runs before an instance's first call (e.g. `adapt`, or LoRA adapters). `output_dtype` is the
    outputs' dtype when it is not the compute dtype (classifiers return float32 logits).

    1. config: `get_config` survives JSON and rebuilds an equal config; so does Keras's serialization;
    2. a symbolic call (KerasTensor) and an eager call: output shape and dtype, finite values, the
       number of trainable weights and of trainable parameters (`expected_num_params`, pinned by each
       caller as a formula of the layer's sizes);
    3. `.keras` save -> load (safe mode): the same class, the same outputs;
    4. one `fit` step: a finite loss and weights that moved;
    5. precision: the instance re-made under `mixed_bfloat16` and `mixed_float16` with the float32
       weights: float variables in float32, outputs in the compute dtype (or `output_dtype`), finite and
       close to float32's (relative error below `PRECISIONS`).
    Returns the float32 instance.
    """
    def make(dtype=None):
        kwargs = init_kwargs(dtype) if callable(init_kwargs) else dict(init_kwargs)
        if dtype is not None and not callable(init_kwargs):
            kwargs["dtype"] = dtype
        elif dtype is not None:
            kwargs.setdefault("dtype", dtype)
        instance = cls(**kwargs)
        if prepare:
            prepare(instance)
        return instance

    # 1. Config round trips (after a first call: a nested model's config records its build).
    instance = make()
    outputs = instance(input_data, training=False)
    as_json = lambda c: json.loads(json.dumps(c, sort_keys=True))  # noqa: E731  (tuples and lists compare equal)
    config = instance.get_config()
    rebuilt = cls.from_config(json.loads(json.dumps(config)))
    rebuilt(input_data)  # built as the original is (a nested model's config records its build)
    assert as_json(rebuilt.get_config()) == as_json(config)
    revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(instance))))
    assert type(revived) is cls and as_json(revived.get_config()) == as_json(config)

    # 2. Symbolic and eager calls.
    expected_dtype = lambda layer: output_dtype or keras.backend.standardize_dtype(layer.compute_dtype)  # noqa: E731
    symbolic_inputs = keras.tree.map_structure(lambda x: keras.KerasTensor(x.shape, x.dtype), input_data)
    symbolic = make()(symbolic_inputs)
    assert tuple(symbolic.shape) == tuple(expected_output_shape)
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert keras.backend.standardize_dtype(outputs.dtype) == expected_dtype(instance)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))
    assert len(instance.trainable_weights) == expected_num_trainable_weights, (
        f"{len(instance.trainable_weights)} trainable weights, expected {expected_num_trainable_weights}")
    params = sum(int(np.prod(w.shape)) for w in instance.trainable_weights)
    assert params == expected_num_params, f"{params:,} trainable parameters, expected {expected_num_params:,}"

    # 3. .keras round trip (a layer inside a one-layer model).
    is_layer = not isinstance(instance, keras.Model)
    model = (keras.Sequential([keras.Input(input_data.shape[1:], dtype=input_data.dtype), instance])
             if is_layer else instance)
    path = tmp_path / f"{cls.__name__}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert type(reloaded.layers[-1] if is_layer else reloaded) is cls
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(input_data, training=False)),
                               keras.ops.convert_to_numpy(outputs), atol=1e-5, rtol=1e-5)

    # 4. One training step.
    if model.trainable_weights:
        targets = np.zeros(tuple(expected_output_shape), np.float32) if targets is None else np.asarray(targets)
        before = [np.array(w) for w in model.trainable_weights]
        loss = "mse" if targets.dtype.kind == "f" else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
        history = model.fit(input_data, targets, batch_size=len(targets), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert any(not np.allclose(a, b) for a, b in zip(before, [np.array(w) for w in model.trainable_weights]))

    # 5. Precision: the same weights under each mixed policy.
    if run_precision_checks:
        reference = make()
        expected = keras.ops.convert_to_numpy(reference(input_data, training=False))
        for policy, tolerance in PRECISIONS.items():
            mixed = make(keras.DTypePolicy(policy))
            mixed(input_data, training=False)
            mixed.set_weights(reference.get_weights())
            result = mixed(input_data, training=False)
            assert keras.backend.standardize_dtype(result.dtype) == expected_dtype(mixed), policy
            for weight in mixed.weights:
                if weight.dtype.startswith("float") or weight.dtype == "bfloat16":
                    assert weight.dtype == "float32", f"{policy}: {weight.path} is {weight.dtype}"
            values = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(result, "float32")))
            assert np.all(np.isfinite(values)), policy
            error = _relative_error(values, expected)
            assert error < tolerance, f"{policy}: relative error {error:.4f} against float32 (allowed {tolerance})"
    return instance


class CrashAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based), after the callbacks before it have run: a crash."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def tiny_gpt(tmp_path, *overrides) -> list[str]:
    """Overrides of configs/gpt_shakespeare_char.yaml: a 1-2 layer GPT on a small play written in `tmp_path`."""
    corpus = tmp_path / "play.txt"
    corpus.write_text("".join(f"to be or not to be, {w} that is the question.\n" for w in ("ay", "no") * 80))
    return [f"data.train=text:{corpus}?whole=true", "model.gpt.block_size=16", "model.gpt.width=32",
            "model.gpt.num_heads=2", "trainer.eval_batches=2", "trainer.warmup_steps=5", "logging.verbose=0",
            "runtime.deterministic=true", *overrides]
