"""tfmodels/training/optimizers.py and schedules.py: the schedule, the optimizer a config builds, fused Adam."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmodels.config import TrainerConfig
from tfmodels.errors import ConfigError
from tfmodels.training.optimizers import FusedAdam, FusedAdamW, build_optimizer
from tfmodels.training.schedules import WarmupDecay


@pytest.mark.parametrize("decay, expected", [
    ("constant", [0.0, 0.5, 1.0, 1.0, 1.0]),
    ("linear", [0.0, 0.5, 1.0, 0.5, 0.0]),
    ("cosine", [0.0, 0.5, 1.0, 0.5, 0.0]),
])
def test_warmup_then_decay_values(decay, expected):
    schedule = WarmupDecay(1.0, total_steps=20, warmup_steps=10, decay=decay)
    values = [float(schedule(step)) for step in (0, 5, 10, 15, 20)]
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_cosine_is_not_linear_between_ends():
    schedule = WarmupDecay(1.0, total_steps=100, warmup_steps=0, decay="cosine")
    assert float(schedule(25)) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.25)))


def test_schedule_serializes():
    schedule = WarmupDecay(3e-4, total_steps=100, warmup_steps=10, decay="linear")
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(rebuilt(50)) == pytest.approx(float(schedule(50)))


def test_optimizer_choices_and_scaling():
    opt = build_optimizer(TrainerConfig(optimizer="adamw", weight_decay=0.01, learning_rate=1e-3, lr_scaling="linear"),
                          total_steps=100, num_replicas=2)
    assert isinstance(opt, keras.optimizers.AdamW) and opt.weight_decay == pytest.approx(0.01)
    assert float(opt.learning_rate) == pytest.approx(2e-3)
    opt = build_optimizer(TrainerConfig(schedule="cosine", warmup_steps=10), total_steps=100, num_replicas=1)
    assert isinstance(opt._learning_rate, WarmupDecay) and opt._learning_rate.decay == "cosine"


def test_warmup_longer_than_training_is_a_config_error():
    with pytest.raises(ConfigError, match="trainer.warmup_steps=500 is not less than the 100 training steps"):
        build_optimizer(TrainerConfig(warmup_steps=500), total_steps=100, num_replicas=1)


def test_warmup_fraction_and_schedule_ends():
    from tfmodels.training.optimizers import warmup_steps

    config = TrainerConfig(warmup_fraction=0.1, schedule="linear", learning_rate=2e-3)
    assert warmup_steps(config, 1000) == 100
    optimizer = build_optimizer(config, total_steps=1000, num_replicas=1)
    schedule = optimizer._learning_rate
    assert [float(schedule(s)) for s in (0, 100, 1000)] == pytest.approx([0.0, 2e-3, 0.0], abs=1e-9)
    with pytest.raises(ConfigError, match="set trainer.warmup_steps or trainer.warmup_fraction, not both"):
        TrainerConfig(warmup_steps=5, warmup_fraction=0.1).validate()


def test_weight_decay_skips_biases_norms_and_embeddings():
    import numpy as np

    from tfmodels.models import TextClassifier
    from tfmodels.networks import TransformerEncoder

    model = TextClassifier(TransformerEncoder(50, 8, width=16, num_layers=1, num_heads=2, ffn_dim=32), 2)
    model.build((None, 8))
    optimizer = build_optimizer(TrainerConfig(optimizer="adamw", weight_decay=0.5, learning_rate=0.1),
                                total_steps=10, num_replicas=1)
    before = {w.path: np.array(w) for w in model.trainable_weights}
    optimizer.apply_gradients([(np.zeros(w.shape, np.float32), w) for w in model.trainable_weights])  # decay only
    decayed = {path for path, value in before.items()
               if not np.allclose(value, np.array(next(w for w in model.trainable_weights if w.path == path)))}
    assert decayed, "some kernels must decay"
    assert all(path.endswith("kernel") for path in decayed), sorted(decayed)
    assert any("c_attn/kernel" in path for path in decayed)


def test_decay_embeddings_decays_every_matrix_of_a_gpt_as_nanogpt():
    import numpy as np

    from tfmodels.models import GPT

    model = GPT(11, 8, width=16, num_layers=1, num_heads=2)
    model.build((None, 8))
    optimizer = build_optimizer(TrainerConfig(optimizer="adamw", weight_decay=0.5, learning_rate=0.1,
                                              decay_embeddings=True), total_steps=10, num_replicas=1)
    before = {w.path: np.array(w) for w in model.trainable_weights}
    optimizer.apply_gradients([(np.zeros(w.shape, np.float32), w) for w in model.trainable_weights])  # decay only
    after = {w.path: np.array(w) for w in model.trainable_weights}
    decayed = {path for path in before if not np.allclose(before[path], after[path])}
    matrices = {w.path for w in model.trainable_weights if len(w.shape) == 2}
    assert decayed == matrices, (sorted(decayed), sorted(matrices))  # nanoGPT: every p.dim() >= 2, nothing else
    assert any(path.endswith("wte/embeddings") for path in decayed) and any("wpe" in p for p in decayed)


# --- fused Adam -------------------------------------------------------------------------------


@pytest.mark.parametrize("fused, plain, kwargs", [
    (FusedAdam, keras.optimizers.Adam, {}),
    (FusedAdamW, keras.optimizers.AdamW, {"weight_decay": 0.05}),
    (FusedAdam, keras.optimizers.Adam, {"amsgrad": True}),
])
def test_fused_adam_equals_keras_adam(fused, plain, kwargs):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)]
    results = []
    for cls in (fused, plain):
        variables = [keras.Variable(v) for v in start]
        optimizer = cls(learning_rate=0.01, **kwargs)
        grad_rng = np.random.default_rng(1)
        for _ in range(6):
            grads = [tf.constant(grad_rng.normal(size=v.shape).astype(np.float32)) for v in start]
            optimizer.apply(grads, variables)
        results.append([v.numpy() for v in variables])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float rounding; a step moves ~1e-2
    assert not np.allclose(results[0][0], start[0])  # it did train


def test_fused_adam_applies_sparse_gradients_as_keras_does():
    start = np.random.default_rng(2).normal(size=(10, 4)).astype(np.float32)
    grad = tf.IndexedSlices(tf.ones((2, 4)), tf.constant([1, 7]), tf.constant([10, 4]))
    results = []
    for cls in (FusedAdam, keras.optimizers.Adam):
        variable = keras.Variable(start)
        cls(learning_rate=0.1).apply([grad], [variable])
        results.append(variable.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
    assert np.allclose(results[0][0], start[0]) and not np.allclose(results[0][1], start[1])


def test_nanogpt_schedule_and_betas():
    """Cosine from the peak to min_learning_rate (nanoGPT's min_lr), scaled as the peak; Adam's beta_2."""
    config = TrainerConfig(optimizer="adamw", schedule="cosine", learning_rate=1e-3, min_learning_rate=1e-4,
                           warmup_steps=100, beta_2=0.99, weight_decay=0.1, lr_scaling="linear")
    optimizer = build_optimizer(config, total_steps=2000, num_replicas=2)
    schedule = optimizer._learning_rate
    assert [float(schedule(s)) for s in (0, 50, 100, 1050, 2000)] == pytest.approx(
        [0.0, 1e-3, 2e-3, 1.1e-3, 2e-4], rel=1e-5, abs=1e-9)
    assert optimizer.beta_2 == pytest.approx(0.99)
    assert optimizer.epsilon == pytest.approx(1e-7)  # Keras's, unless trainer.adam_epsilon says otherwise
    assert build_optimizer(TrainerConfig(adam_epsilon=1e-8), 10, 1).epsilon == pytest.approx(1e-8)
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(rebuilt(2000)) == pytest.approx(2e-4)
    for bad, message in ((dict(min_learning_rate=1e-3), "trainer.min_learning_rate must be at least 0 and below "
                                                         "trainer.learning_rate=0.001; got 0.001"),
                         (dict(beta_2=1.0), r"trainer.beta_2 must be in \(0, 1\), got 1.0"),
                         (dict(adam_epsilon=0.0), "trainer.adam_epsilon must be positive, got 0.0")):
        with pytest.raises(ConfigError, match=message):
            TrainerConfig(learning_rate=1e-3, **bad).validate()
