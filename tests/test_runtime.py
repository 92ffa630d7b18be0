"""tfmodels/runtime.py: precision from the accelerator's facts, and when TensorFlow reads its XLA flags."""

import pytest
from helpers import run_python_alone

from tfmodels import runtime
from tfmodels.runtime import Accelerator, resolve_precision, resolve_xla


@pytest.mark.parametrize("device, precision", [
    (Accelerator("tpu", "TPU"), "mixed_bfloat16"),
    (Accelerator("gpu", "GPU of compute capability 8.0", (8, 0)), "mixed_bfloat16"),
    (Accelerator("gpu", "GPU of compute capability 7.5", (7, 5)), "mixed_float16"),
])
def test_auto_precision_follows_the_accelerator(monkeypatch, device, precision):
    monkeypatch.setattr(runtime, "accelerator", lambda: device)
    assert resolve_precision("auto") == (precision, f"auto: {device.description}")
    assert resolve_xla("auto", precision) == ("on", f"auto: {device.description}")


def test_tensorflow_reads_its_xla_flags_when_it_starts_not_at_import():
    """After `import tfmodels` (TensorFlow, Keras and keras-hub imported) the flags can still be set;
    after the first op they cannot, and `request_fusible_xla` says so instead of pretending."""
    code = """
import os
import tfmodels
from tfmodels import runtime
before = runtime.tensorflow_started()
import tensorflow as tf
tf.constant(1.0) + 1.0
print(before, runtime.tensorflow_started())
"""
    result = run_python_alone(code)
    assert result.stdout.split() == ["False", "True"], result.stderr[-2000:]


def test_import_tfmodels_hides_tensorflows_start_up_lines():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", "import tfmodels, tensorflow as tf; print(tf.constant(2) * 2)"],
                            capture_output=True, text=True, cwd="/", env=env, timeout=300)
    assert "tf.Tensor(4" in result.stdout and result.stderr.strip() == "", result.stderr[-2000:]
