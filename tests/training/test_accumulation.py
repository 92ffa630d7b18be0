"""Gradient accumulation: k micro-batches make the update one batch k times larger makes, counted as one.

The reference is the same model trained without accumulation on the whole batch (Keras's own step);
weights are compared in float32 to 1e-5. A token-weighted loss with uneven token counts per
micro-batch shows the difference between the mean over tokens (ours) and the mean of micro-batch
means (Keras's `gradient_accumulation_steps`), so the comparison can fail.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_python_alone

from tfmodels.config import apply_overrides, load_config
from tfmodels.errors import ConfigError
from tfmodels.training.accumulation import AccumulatingStep, micro_batches
from tfmodels.training.optimizers import FusedAdam
from tfmodels.verbs.train import train

B, T, V = 16, 6, 11


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, (3 * B, T)).astype("int32")
    y = rng.integers(0, V, (3 * B, T)).astype("int32")
    w = (rng.random((3 * B, T)) < 0.3).astype("float32")
    w[:4] = 1.0  # the first micro-batch holds far more weighted tokens than the others
    return x, y, w


def _train(k, optimizer=lambda: FusedAdam(1e-2), keras_accumulation=False):
    keras.utils.set_random_seed(1)
    x, y, w = _data()
    model = keras.Sequential([keras.Input((T,), dtype="int32"), keras.layers.Embedding(V, 8), keras.layers.Dense(V)])
    opt = optimizer()
    if keras_accumulation and k > 1:
        opt = keras.optimizers.SGD(0.1, gradient_accumulation_steps=k)
    model.compile(optimizer=opt, jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"))
    if k > 1 and not keras_accumulation:
        AccumulatingStep(model, k)
    model.fit(micro_batches(tf.data.Dataset.from_tensor_slices((x, y, w)).batch(B), B, k), verbose=0)
    return [v.numpy() for v in model.weights], int(model.optimizer.iterations.numpy())


def _max_difference(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b))


@pytest.mark.parametrize("k", [2, 4, 8])
def test_k_micro_batches_update_as_one_batch_with_the_loss_a_mean_over_tokens(k):
    reference, updates = _train(1)
    accumulated, accumulated_updates = _train(k)
    assert updates == accumulated_updates == 3  # the optimizer counts updates, not micro-batches
    assert _max_difference(reference, accumulated) < 1e-5


def test_the_mean_of_micro_batch_means_is_not_the_same_update():
    """Keras's own accumulation (the average of the k micro-batch gradients) lands elsewhere when the
    micro-batches carry different numbers of tokens: the equality above is not a tautology."""
    sgd = lambda: keras.optimizers.SGD(0.1)  # noqa: E731
    reference, _ = _train(1, sgd)
    ours, _ = _train(4, sgd)
    theirs, _ = _train(4, sgd, keras_accumulation=True)
    assert _max_difference(reference, ours) < 1e-5
    assert _max_difference(reference, theirs) > 1e-3


def test_two_replicas_accumulate_as_one_device():
    """Under MirroredStrategy with 2 CPU replicas (a fresh process: logical devices come before TF starts)."""
    code = """
import json, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from tfmodels.training.accumulation import AccumulatingStep, micro_batches
from tfmodels.training.optimizers import FusedAdam
rng = np.random.default_rng(0)
B, T, V = 16, 6, 11
x = rng.integers(1, V, (3 * B, T)).astype("int32"); y = rng.integers(0, V, (3 * B, T)).astype("int32")
w = (rng.random((3 * B, T)) < 0.3).astype("float32"); w[:4] = 1.0
def run(k, strategy):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        m = keras.Sequential([keras.Input((T,), dtype="int32"), keras.layers.Embedding(V, 8), keras.layers.Dense(V)])
        m.compile(optimizer=FusedAdam(1e-2), jit_compile=False, loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"))
        if k > 1:
            AccumulatingStep(m, k)
    m.fit(micro_batches(tf.data.Dataset.from_tensor_slices((x, y, w)).batch(B), B, k), verbose=0)
    return [v.numpy() for v in m.weights], int(m.optimizer.iterations.numpy())
one, _ = run(1, tf.distribute.get_strategy())
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
out = {}
for k in (2, 4):
    got, updates = run(k, mirrored)
    out[k] = [max(float(np.max(np.abs(a - b))) for a, b in zip(one, got)), updates]
print("RESULT" + json.dumps(out))
"""
    result = run_python_alone(code)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))[len("RESULT"):])
    for k, (difference, updates) in out.items():
        assert updates == 3, k
        assert difference < 1e-5, (k, difference)


SYNTHETIC = ["data.train=synthetic?size=640", "data.validation=synthetic?size=128", "data.test=null",
             "trainer.epochs=2", "trainer.batch_size=32", "trainer.warmup_steps=4", "trainer.early_stopping_patience=0",
             "model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2",
             "model.encoder.ffn_dim=64", "runtime.deterministic=true", "runtime.precision=float32",
             "runtime.xla=off", "logging.verbose=0", "logging.histogram_freq=0"]


def test_a_run_with_accumulation_ends_with_the_weights_of_one_without(tmp_path):
    """The whole trainer (AdamW, warm-up and cosine decay counting updates, dropout off): k = 4 against k = 1."""
    config = load_config("encoder_synthetic")
    plain = train(apply_overrides(config, SYNTHETIC), tmp_path / "plain")
    accumulated = train(apply_overrides(config, [*SYNTHETIC, "trainer.gradient_accumulation_steps=4"]),
                        tmp_path / "accumulated")
    assert plain.metrics["steps_trained"] == accumulated.metrics["steps_trained"] == 2 * (640 // 32)
    a, b = [], []
    for variable, other in zip(plain.model.weights, accumulated.model.weights):
        x, y = variable.numpy(), other.numpy()
        if variable.path.endswith("c_attn/bias"):  # the key bias shifts every score of a query alike: softmax ignores it, so
            keep = np.r_[0:32, 64:96]  # its gradient is rounding noise (1e-10), which Adam's normalisation blows up
            x, y = x[keep], y[keep]  # to steps of the learning rate's size in either run: it is left out
        a.append(x)
        b.append(y)
    assert _max_difference(a, b) < 1e-5
    history = lambda run: (run.paths.history).read_text().splitlines()  # noqa: E731
    assert len(history(plain)) == len(history(accumulated))


def test_accumulation_must_divide_the_batch_and_refuses_gradual_unfreezing():
    config = load_config("encoder_synthetic")
    with pytest.raises(ConfigError, match="gradient_accumulation_steps=3 does not divide trainer.batch_size=32"):
        apply_overrides(config, ["trainer.batch_size=32", "trainer.gradient_accumulation_steps=3"])
    with pytest.raises(ConfigError, match="finetune=gradual"):
        apply_overrides(config, ["trainer.gradient_accumulation_steps=2", "trainer.finetune=gradual"])
    with pytest.raises(ConfigError, match="gradient_accumulation_steps must be at least 1"):
        apply_overrides(config, ["trainer.gradient_accumulation_steps=0"])
