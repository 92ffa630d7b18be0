"""The causal-LM task end to end: the shipped config shrunk, trained by steps, on a small text."""

import json
import math

import numpy as np
import pytest
from conftest import CONFIGS

from tfmodels.config import apply_overrides, load_config
from tfmodels.errors import ConfigError, DataError
from tfmodels.verbs.train import train

TEXT = "".join(f"to be or not to be, {w} that is the question.\n\n" for w in ("ay", "no", "yes", "so") * 60)


def shrunk(path, *overrides):
    return apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"), [
        f"data.train=text:{path}?whole=true", "model.gpt.block_size=16", "model.gpt.num_layers=2",
        "model.gpt.width=32", "model.gpt.num_heads=2", "trainer.max_steps=120", "trainer.eval_interval=40",
        "trainer.learning_rate=0.003",
        "trainer.eval_batches=2", "trainer.batch_size=8", "trainer.warmup_steps=5", "logging.verbose=0", *overrides])


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "play.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_a_character_gpt_trains_by_steps_and_learns(corpus, tmp_path):
    result = train(shrunk(corpus), tmp_path / "run")
    metrics = result.metrics
    assert metrics["steps_trained"] == 120 and metrics["epochs_trained"] == 3  # three evaluations of 40 steps
    characters = json.loads((tmp_path / "run" / "characters.json").read_text())["characters"]
    assert "".join(characters) == "".join(sorted(set(TEXT)))  # newline and space included
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3
    counts = np.unique(list(TEXT), return_counts=True)[1] / len(TEXT)
    unigram = float(-(counts * np.log(counts)).sum())  # the best loss without context
    assert metrics["validation"]["loss"] < unigram - 0.5 < math.log(len(characters))


def test_the_config_asks_for_steps_and_a_long_enough_text(corpus, tmp_path):
    with pytest.raises(ConfigError, match="trainer.max_steps=50 is not a multiple of trainer.eval_interval=40"):
        shrunk(corpus, "trainer.max_steps=50").validate()
    with pytest.raises(ConfigError, match="model.type=gpt trains by steps: set trainer.max_steps"):
        shrunk(corpus, "trainer.max_steps=null").validate()
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be, that is the question\n" * 2, encoding="utf-8")
    with pytest.raises(DataError, match=r"data.validation: the validation text gives 8 tokens, fewer than one window "
                                        r"of block_size \+ 1 = 17"):
        train(shrunk(short), tmp_path / "short_run")
    assert not (tmp_path / "short_run").exists()
