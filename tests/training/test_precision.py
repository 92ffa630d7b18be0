"""Mixed precision trains: the loss is computed in float32, float16 scales the loss, every precision learns."""

import csv

import keras
import numpy as np
import pytest

from tfmodels.config import apply_overrides, demo_config, demo_text_config
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0", "trainer.early_stopping_patience=0"]


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_every_precision_trains_to_a_finite_falling_loss(workdir, precision, kind):
    if kind == "mlp":
        config = apply_overrides(demo_config(), [*QUICK, "trainer.epochs=4", f"runtime.precision={precision}"])
    else:
        config = apply_overrides(demo_text_config(), [*QUICK, "trainer.epochs=3", "data.train=synthetic?size=1200",
                                                      "data.validation=synthetic?size=300", "data.test=null",
                                                      "trainer.warmup_steps=10", f"runtime.precision={precision}"])
    result = train(config, "run")
    with open("run/history.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0], losses

    model = result.model
    assert model.dtype_policy.name == precision
    assert model.logits.dtype_policy.name == "float32"  # the loss sees float32 logits
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back after the run
