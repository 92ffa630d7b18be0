"""What a TPU needs, checked here without one: static shapes in every training batch of every
shipped config, and no string op inside any model (tokenization stays in the input pipeline).

Text configs read a seeded sample of their data (`?sample=`): the shapes come from the config
(batch size, sequence length), not from how much data there is. The TFDS config reads the
built-in digits instead of downloading MNIST: the same image pipeline, offline.
"""

from pathlib import Path

import pytest
import tensorflow as tf

from tfmodels.config import apply_overrides, load_config
from tfmodels.tasks import task_for

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
NEEDS_SHARED_DATA = "${TFMODELS_SHARED_DATA}"


def _offline_small(path: Path) -> list[str]:
    config = load_config(path)
    data = config.data
    overrides = []
    if isinstance(data.train, str) and data.train.startswith("tfds:"):
        overrides += ["data.train=digits", "data.test=digits"]
    elif isinstance(data.train, str) and data.train.startswith("dir:") and config.model.type in ("cnn", "vit", "mlp"):
        overrides.append(f"data.train={data.train}&sample=400")  # image files: a seeded 400 of them
    elif config.model.type not in ("mlp", "cnn", "vit"):
        trains = data.train if isinstance(data.train, list) else [data.train]
        if trains:  # pretraining cuts text into sequences: it needs more of it for two batches
            size = 4000 if config.model.type == "masked_lm" else 400
            sampled = [(f"synthetic?size={size}" if t == "synthetic" else t + ("&" if "?" in t else "?") + "sample=400")
                       for t in trains]
            overrides.append("data.train=" + (sampled[0] if len(sampled) == 1 else "[" + ", ".join(
                f'"{t}"' for t in sampled) + "]"))
        for role in ("validation", "test"):
            spec = getattr(data, role)
            if spec == "synthetic":
                overrides.append(f"data.{role}=synthetic?size=400")
            elif isinstance(spec, str):
                overrides.append(f"data.{role}={spec}{'&' if '?' in spec else '?'}sample=200")
    return overrides


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_trains_on_static_shapes_and_its_model_has_no_string_ops(path, request):
    if NEEDS_SHARED_DATA in repr(load_config(path).data):  # the data it reads, not its comments
        request.getfixturevalue("shared_data")
    config = apply_overrides(load_config(path), _offline_small(path))
    if config.data.batch_by_length:  # batches of varying length are refused on a TPU (test below): as a TPU run reads it
        config = apply_overrides(config, ["data.batch_by_length=false"])
    task = task_for(config)
    data = task.prepare(task.load())
    global_batch = config.trainer.batch_size * 2  # as on two replicas
    train_ds, _ = task.datasets(data, global_batch, config.runtime.seed, epochs=2)

    specs = tf.nest.flatten(train_ds.element_spec)
    assert all(spec.shape.is_fully_defined() for spec in specs), train_ds.element_spec
    assert all(spec.shape[0] == global_batch for spec in specs)  # drop_remainder: every batch is full
    assert all(spec.dtype != tf.string for spec in specs)

    model = task.build_model(data)
    operations, string_ops = traced_operations(model, train_ds.element_spec[0])
    assert not string_ops, f"{path.name}: string ops inside the model: {sorted(set(string_ops))}"
    assert operations > 10  # the model was traced, not an empty function


def traced_operations(model, input_spec) -> tuple[int, list[str]]:
    """(number of operations, the types of those that take or give strings) in the traced training call."""
    graph = tf.function(lambda x: model(x, training=True)).get_concrete_function(input_spec).graph
    operations = graph.get_operations()
    return len(operations), [op.type for op in operations if any(t.dtype == tf.string for t in [*op.inputs, *op.outputs])]


def test_the_string_op_check_finds_a_lookup_inside_a_model():
    import keras

    lookup = keras.layers.StringLookup(vocabulary=["a", "b"])
    model = keras.Sequential([keras.Input((3,), dtype="string"), lookup, keras.layers.Embedding(4, 2)])
    _, string_ops = traced_operations(model, tf.TensorSpec((2, 3), tf.string))
    assert string_ops


def test_batches_of_varying_length_are_refused_on_a_tpu(monkeypatch):
    from tfmodels import runtime
    from tfmodels.errors import ConfigError

    monkeypatch.setattr(runtime, "accelerator", lambda: runtime.Accelerator("tpu", "TPU v2-8"))
    with pytest.raises(ConfigError, match="data.batch_by_length makes batches of varying length"):
        runtime.check_static_shapes(True)
    runtime.check_static_shapes(False)
