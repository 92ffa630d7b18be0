"""The causal-LM task end to end: the shipped config shrunk, trained by steps, on a small text."""

import json
import math
import re

import numpy as np
import pytest
from conftest import CONFIGS

from tfmodels.config import apply_overrides, load_config
from tfmodels.errors import ConfigError, DataError
from tfmodels.verbs.train import train

pytestmark = pytest.mark.slow  # trains a GPT for 120 steps (about a minute); the full suite runs it

TEXT = "".join(f"to be or not to be, {w} that is the question.\n\n" for w in ("ay", "no", "yes", "so") * 60)


def shrunk(path, *overrides):
    return apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"), [
        f"data.train=text:{path}?whole=true", "model.gpt.block_size=16", "model.gpt.num_layers=2",
        "model.gpt.width=32", "model.gpt.num_heads=2", "trainer.max_steps=120", "trainer.eval_interval=40",
        "trainer.learning_rate=0.003",
        "trainer.eval_batches=2", "trainer.batch_size=8", "trainer.warmup_steps=5", "logging.verbose=0", *overrides])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("gpt") / "run"
    return run, train(shrunk(corpus), run)


def test_a_character_gpt_trains_by_steps_and_learns(trained):
    run, result = trained
    tmp_path = run.parent
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


def test_generate_continues_a_prompt_greedily_and_reproducibly(trained, capsys):
    from tfmodels.cli import main

    run, _ = trained
    assert main(["generate", str(run), "to be ", "--max-new-tokens", "8"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("to be ") and len(first.rstrip("\n")) == len("to be ") + 8
    assert main(["generate", str(run), "to be ", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out == first  # greedy: the same every time
    seeded = [main(["generate", str(run), "to", "--sampler", "top_k", "--top-k", "3", "--seed", "5",
                    "--max-new-tokens", "10"]) or capsys.readouterr().out for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_long_prompts_and_long_continuations_slide_through_the_block(trained, capsys):
    from tfmodels.cli import main

    run, _ = trained
    prompt = "to be or not to be, " * 2  # 40 characters; the block is 16
    assert main(["generate", str(run), prompt, "--max-new-tokens", "6"]) == 0
    captured = capsys.readouterr()
    assert "the prompt has 40 characters and the block 16: the model sees its last 10; its first 30 were cut" in \
        captured.err
    assert captured.out == prompt + captured.out[len(prompt):] and len(captured.out.rstrip("\n")) == 40 + 6
    assert main(["generate", str(run), "to", "--max-new-tokens", "40"]) == 0  # 2.6 blocks of new text
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.rstrip("\n")) == 42


@pytest.mark.parametrize("args, message", [
    (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1, got 0"),
    (["--temperature", "0"], "--temperature must be above 0"),
    (["--top-p", "1.5"], r"--top-p must be in \(0, 1\], got 1.5"),
    (["--top-k", "0"], "--top-k must be at least 1, got 0"),
    (["--sampler", "nucleus"], "--sampler 'nucleus' is not one of greedy, top_k, top_p, beam, random"),
])
def test_bad_generation_options(trained, capsys, args, message):
    from tfmodels.cli import main

    run, _ = trained
    assert main(["generate", str(run), "to be", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_generate_refuses_unknown_characters_and_other_runs(trained, capsys, tmp_path):
    from tfmodels.cli import main

    run, _ = trained
    assert main(["generate", str(run), "Quiz"]) == 2
    assert "the prompt has 2 character(s) the vocabulary of 17 does not hold: 'Q', 'z'" in capsys.readouterr().err
    digits = tmp_path / "digits"
    train(apply_overrides(load_config(CONFIGS / "mlp_digits.yaml"), ["trainer.epochs=1", "logging.verbose=0"]), digits)
    assert main(["generate", str(digits), "to be"]) == 2
    assert "is a mlp run, not a causal language model" in capsys.readouterr().err
