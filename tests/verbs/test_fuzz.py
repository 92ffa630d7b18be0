"""Property-based: whatever bytes a data or config file holds and whatever values a user sets, a
failure is one of the project's own errors (one clear line), never a crash from deep inside."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfmodels.config import apply_overrides, demo_config, load_config
from tfmodels.data.images import load_images
from tfmodels.data.text import load_text
from tfmodels.errors import TFModelsError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Keys a user might set: every real key, plus misspellings and sections, with values of every kind.
KEYS = ["name", "trainer.epochs", "trainer.batch_size", "trainer.learning_rate", "trainer.optimizer",
        "trainer.schedule", "trainer.finetune", "trainer.clipnorm", "model.type", "model.num_classes",
        "model.mlp.hidden_units", "model.encoder.width", "data.train", "data.validation_fraction",
        "data.tokenizer.sequence_length", "runtime.precision", "runtime.strategy", "runtime.num_cpu_devices",
        "logging.verbose", "init.from_run", "trainer", "model.mlp", "trainer.epoch", "nope", "data.train.x"]
VALUES = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["", "null", "true", "[]", "[1, 2", "{a: 1}", "- x", "'", "nan", "inf", "1e400",
                                    "synthetic", "digits", "csv:", "tfds:", "[1, 'a']", "adam", "mlp"]),
                   st.text(string.printable, max_size=20))


def _fails_cleanly(call):
    """Runs `call`; success is fine, and a failure must be a TFModelsError whose message is one line."""
    try:
        call()
    except TFModelsError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4))
def test_random_overrides_are_accepted_or_refused_clearly(pairs):
    _fails_cleanly(lambda: apply_overrides(demo_config(), [f"{k}={v}" for k, v in pairs]))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_a_config_file(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    _fails_cleanly(lambda: load_config(path))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_a_config_file(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    _fails_cleanly(lambda: load_config(path))


@FUZZ
@given(data=st.binary(max_size=600), kind=st.sampled_from(["csv", "npz", "idx"]))
def test_random_bytes_as_an_image_file(tmp_path, data, kind):
    path = tmp_path / f"images.{kind}"
    path.write_bytes(data)
    _fails_cleanly(lambda: load_images(f"{kind}:{path}", "train"))


@FUZZ
@given(data=st.binary(max_size=600), kind=st.sampled_from(["csv", "tsv", "text", "jsonl"]))
def test_random_bytes_as_a_text_file(tmp_path, data, kind):
    path = tmp_path / f"texts.{kind}"
    path.write_bytes(data)
    _fails_cleanly(lambda: load_text(f"{kind}:{path}", "train"))


@FUZZ
@given(st.text(string.printable, max_size=40))
def test_random_data_specs(spec):
    _fails_cleanly(lambda: load_images(spec, "train"))
    _fails_cleanly(lambda: load_text(spec, "train"))


def test_the_fuzzing_helper_rejects_a_foreign_error():
    with pytest.raises(ZeroDivisionError):
        _fails_cleanly(lambda: 1 / 0)
