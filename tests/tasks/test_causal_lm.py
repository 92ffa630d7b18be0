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
    from tfmodels.verbs.generate import generate

    pieces = []  # streamed: one piece a pass (the first 14 tokens fill the block, then 8 a half block)
    result = generate(run, "to", max_new_tokens=40, on_text=pieces.append)
    assert [len(p) for p in pieces] == [14, 8, 8, 8, 2] and "".join(pieces) == result.text
    assert "to" + result.text == captured.out.rstrip("\n")  # the CLI printed the same, as it came


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


def test_evaluate_reports_the_corpus_cross_entropy_per_token_and_bits_per_character(trained, tmp_path, capsys):
    from tfmodels.cli import main
    from tfmodels.saving import load_keras_model

    run, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("to be or not to be, ay that is the question.\n" * 3 + "no", encoding="utf-8")
    assert main(["evaluate", str(run), "--data", f"text:{other}?whole=true"]) == 0
    report = capsys.readouterr().out
    result = json.loads((run / "metrics.json").read_text())["evaluation"]["data"]
    # By hand: every next character of the text predicted once, from windows of the block as evaluate cuts them.
    characters = json.loads((run / "characters.json").read_text())["characters"]
    ids = np.array([characters.index(c) for c in other.read_text(encoding="utf-8")])
    model, block, losses, hits = load_keras_model(run / "model.keras"), 16, [], []
    for start in range(0, len(ids) - 1, block):
        x, y = ids[start:start + block], ids[start + 1:start + block + 1]
        logits = np.asarray(model(x[None, :len(y)]), np.float64)[0]  # (t, V)
        log_p = logits - logits.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        losses += list(-log_p[np.arange(len(y)), y])
        hits += list(logits.argmax(-1) == y)
    assert result["predicted_tokens"] == len(ids) - 1 == len(losses) and result["tokens"] == len(ids)
    assert result["loss"] == pytest.approx(np.mean(losses), abs=1e-5)
    assert result["perplexity"] == pytest.approx(np.exp(np.mean(losses)), rel=1e-5)
    assert result["bits_per_character"] == pytest.approx(np.mean(losses) / math.log(2), abs=1e-5)
    assert result["accuracy"] == pytest.approx(np.mean(hits), abs=1e-6)
    assert f"perplexity {result['perplexity']:.3f}" in report and "bits per character" in report
    assert main(["evaluate", str(run)]) == 0  # the run's own validation text, whole
    assert json.loads((run / "metrics.json").read_text())["evaluation"]["validation"]["predicted_tokens"] > 1000
    capsys.readouterr()
    (tmp_path / "odd.txt").write_text("to be? QUIZ", encoding="utf-8")
    assert main(["evaluate", str(run), "--data", f"text:{tmp_path / 'odd.txt'}"]) == 2
    assert "character(s) the vocabulary of 17 does not hold" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--split", "test"]) == 2
    assert "a causal LM run has train and validation text, not 'test'" in capsys.readouterr().err


def test_tensorboard_shows_samples_perplexity_tokens_per_second_and_the_learning_rate(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = trained
    samples = EventAccumulator(str(run / "logs" / "run" / "samples"))
    samples.Reload()
    texts = [e.tensor_proto.string_val[0].decode() for e in samples.Tensors("samples")]
    assert len(texts) == 3 and all(t.count("sample ") == 2 for t in texts)  # one per evaluation, two samples each
    first = re.findall(r"```\n(.*?)\n```", texts[-1], re.DOTALL)[0]
    assert len(first) == 1 + 200 and set(first) <= set(TEXT)  # the prompt character and 200 sampled
    train_logs = EventAccumulator(str(run / "logs" / "train"))
    train_logs.Reload()
    tags = set(train_logs.Tags()["tensors"])
    assert {"epoch_loss", "epoch_perplexity", "epoch_tokens_per_second", "epoch_learning_rate"} <= tags, tags
    loss = [float(np.asarray(tf_value(e))) for e in train_logs.Tensors("epoch_loss")]
    perplexity = [float(np.asarray(tf_value(e))) for e in train_logs.Tensors("epoch_perplexity")]
    assert len(loss) == 3 and perplexity[-1] < perplexity[0]
    # Trained by steps: the x-axis is the optimizer step (three evaluations of 40 steps), train and validation.
    assert [e.step for e in train_logs.Tensors("epoch_loss")] == [40, 80, 120]
    validation_logs = EventAccumulator(str(run / "logs" / "validation"))
    validation_logs.Reload()
    assert [e.step for e in validation_logs.Tensors("epoch_loss")] == [40, 80, 120]


def tf_value(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


def test_export_generates_in_a_process_with_tensorflow_alone_as_the_cli_does(trained, tmp_path, capsys):
    from helpers import run_python_alone

    from tfmodels.cli import main
    from tfmodels.saving import load_keras_model
    from tfmodels.verbs.export import export_run

    run, _ = trained
    out = export_run(run, out=tmp_path / "export")
    cases = [("to be ", 8), ("to be or not to be, " * 2, 6), ("to", 40)]  # fits; prompt cut; slides the block
    expected = []
    for prompt, n in cases:
        assert main(["generate", str(run), prompt, "--max-new-tokens", str(n)]) == 0
        expected.append(capsys.readouterr().out.rstrip("\n")[len(prompt):])
    ids = np.array([[1, 5, 2, 9, 3]], np.int32)
    logits = np.asarray(load_keras_model(run / "model.keras")(ids))
    code = """
import json, sys
import numpy as np
import tensorflow as tf
assert "tfmodels" not in sys.modules
model = tf.saved_model.load(sys.argv[1])
cases, ids = json.loads(sys.argv[2]), np.array(json.loads(sys.argv[3]), np.int32)
generate = model.signatures["generate"]
def text(prompt, n, temperature=0.0, seed=0):
    out = generate(prompt=tf.constant(prompt), max_new_tokens=tf.constant(n), temperature=tf.constant(temperature),
                   seed=tf.constant(seed))
    return out["text"].numpy().decode(), int(out["prompt_characters_seen"])
def refusal(prompt, n=3, temperature=0.0):
    try:
        text(prompt, n, temperature)
    except tf.errors.InvalidArgumentError as e:
        return str(e)
    return "accepted"
print(json.dumps({
    "refusals": [refusal("Quiz"), refusal(""), refusal("to", 0), refusal("to", 3, -1.0)],
    "greedy": [text(p, n) for p, n in cases],
    "seeded": [text("to", 30, 1.0, 3)[0], text("to", 30, 1.0, 3)[0], text("to", 30, 1.0, 4)[0]],
    "logits": model.signatures["serving_default"](token_ids=tf.constant(ids))["logits"].numpy().tolist()}))
"""
    done = run_python_alone(code, out, json.dumps(cases), json.dumps(ids.tolist()))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for refusal, message in zip(got["refusals"], ["the prompt has characters outside the model vocabulary",
                                                   "the prompt is empty", "max_new_tokens must be at least 1",
                                                   "temperature must be 0 (greedy) or above"]):
        assert message in refusal, refusal[:500]
    assert [t for t, _ in got["greedy"]] == expected  # temperature 0: the CLI's greedy text, sliding included
    assert [seen for _, seen in got["greedy"]] == [6, 10, 2]
    a, b, c = got["seeded"]
    assert a == b and a != c and len(a) == 30
    np.testing.assert_allclose(np.array(got["logits"]), logits, atol=1e-5)
    described = json.loads((out / "tfmodels_export.json").read_text())
    assert described["kind"] == "causal_lm" and described["signatures"]["generate"][0] == "prompt"


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_a_causal_lm_continues_training_from_a_run_on_another_text(trained, tmp_path, finetune):
    from tfmodels.saving import load_keras_model

    run, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("".join(f"not to be, {w} is the question that.\n\n" for w in ("ay", "no") * 80), encoding="utf-8")
    overrides = [f"init.from_run={run}", "trainer.max_steps=40", "trainer.eval_interval=40",
                 *(["trainer.finetune=lora", "trainer.lora_rank=2", "trainer.learning_rate=0.01"] if finetune == "lora"
                   else [])]
    base = load_keras_model(run / "model.keras")
    tuned_dir = tmp_path / finetune
    result = train(shrunk(other, *overrides), tuned_dir)
    assert (tuned_dir / "characters.json").read_text() == (run / "characters.json").read_text()  # the base's ids
    tuned = load_keras_model(tuned_dir / "model.keras")  # LoRA: merged into plain weights
    assert type(tuned).__name__ == "GPT" and not any("lora" in w.path for w in tuned.weights)
    changed = [not np.allclose(a, b) for a, b in zip(base.get_weights(), tuned.get_weights())]
    assert any(changed)
    if finetune == "lora":  # the frozen parts are exactly the base's: norms, positions, biases
        frozen = [w.path for w, c in zip(tuned.weights, changed) if not c]
        assert any("ln_f" in p for p in frozen) and any("wpe" in p for p in frozen)
        assert any(p.endswith("wte/embeddings") for p in frozen)  # no adapters on it by default
        assert not any(p.endswith("c_fc/kernel") for p in frozen)  # W + (alpha / r) A B
        check_adapters_file(run, tuned_dir, tmp_path)
    assert result.metrics["validation"]["loss"] < 1.5


def check_adapters_file(base, tuned_dir, tmp_path):
    """The adapters alone: small, keyed by weight path; put on the base in a fresh process they generate
    what the merged model generates (greedy); put on another base they are refused with one line."""
    from helpers import run_cli

    from tfmodels.saving import read_adapters

    adapters = tuned_dir / "adapters.npz"
    meta, values = read_adapters(adapters)
    assert meta["rank"] == 2 and meta["base"] == str(base)
    assert all(path.startswith("h_") and "lora_kernel" in path for path in values)  # by path: h_1/attn/c_attn/...
    assert adapters.stat().st_size < (tuned_dir / "model.keras").stat().st_size / 3
    prompt = ["not to be, ", "--max-new-tokens", "30"]
    merged = run_cli("generate", tuned_dir, *prompt, cwd=tmp_path).stdout
    reloaded = run_cli("generate", base, *prompt, "--adapters", adapters, cwd=tmp_path).stdout
    assert reloaded == merged and len(merged) > 30
    refused = run_cli("generate", tuned_dir, *prompt, "--adapters", adapters, cwd=tmp_path, check=False)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode != 0 and len(errors) == 1 and "was trained on another base" in errors[0]


def test_a_byte_level_bpe_gpt_trains_generates_evaluates_and_exports_its_tokenizer(corpus, tmp_path, capsys):
    from helpers import run_python_alone

    from tfmodels.cli import main
    from tfmodels.data.lm_tokenizers import read_codec
    from tfmodels.verbs.export import export_run

    run = tmp_path / "bpe"
    result = train(shrunk(corpus, "data.tokenizer.kind=bpe", "data.tokenizer.vocabulary_size=300",
                          "trainer.max_steps=80"), run)
    codec = read_codec(run)
    assert codec.kind == "bpe" and 257 < codec.vocabulary_size <= 300 and (run / "bpe.json").is_file()
    assert json.loads((run / "data.json").read_text())["token_ids"]["tokenizer"] == "bpe"
    tokens = len(codec.stream([TEXT]))
    assert tokens < len(TEXT) / 3  # words, not characters: the merges were learnt
    assert result.metrics["validation"]["loss"] < math.log(300) - 2
    prompt = "to be or not"
    assert main(["generate", str(run), prompt, "--max-new-tokens", "12"]) == 0
    greedy = capsys.readouterr().out[:-1]  # the CLI ends with a newline of its own
    assert greedy.startswith(prompt) and len(greedy) >= len(prompt) + 12  # 12 new tokens (words, here)
    assert "question" in greedy  # what this text puts after "to be or not"
    assert main(["evaluate", str(run), "--data", f"text:{corpus}?whole=true"]) == 0
    evaluation = json.loads((run / "metrics.json").read_text())["evaluation"]["data"]
    assert evaluation["predicted_tokens"] == tokens - 1 and "bits_per_character" not in evaluation
    out = export_run(run, out=tmp_path / "export")
    code = """
import json, sys
import tensorflow as tf
import tensorflow_text  # keras-hub's BPE tokenizer is inside the graph
assert "tfmodels" not in sys.modules and "keras_hub" not in sys.modules
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["generate"](prompt=tf.constant(sys.argv[2]), max_new_tokens=tf.constant(12),
                                   temperature=tf.constant(0.0), seed=tf.constant(0))
print(json.dumps([out["text"].numpy().decode(), int(out["prompt_tokens_seen"])]))
"""
    done = run_python_alone(code, out, prompt)
    assert done.returncode == 0, done.stderr[-3000:]
    text, seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert prompt + text == greedy and seen == len(codec.encode(prompt))  # the CLI's greedy text

    # As a keras-hub GPT-2 preset (GPT2Backbone + GPT2Tokenizer), loaded by keras-hub alone: the same greedy text.
    assert main(["export", str(run), "--format", "keras-hub", "--out", str(tmp_path / "gpt2_preset")]) == 0
    capsys.readouterr()
    code = """
import json, sys
import numpy as np, keras_hub
lm = keras_hub.models.GPT2CausalLM.from_preset(sys.argv[1], preprocessor=None)
lm.compile(sampler="greedy")  # GPT2CausalLM samples top-k by default
prompt = json.loads(sys.argv[2])
ids = np.zeros((1, len(prompt) + 12), np.int32); ids[0, :len(prompt)] = prompt
out = lm.generate({"token_ids": ids, "padding_mask": ids != 0}, stop_token_ids=None)
tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(sys.argv[1])
print(json.dumps([np.asarray(out["token_ids"])[0].tolist(), np.asarray(tokenizer(sys.argv[3])).tolist(),
                  "tfmodels" in sys.modules]))
"""
    from tfmodels.saving import load_keras_model

    model, prompt_ids = load_keras_model(run / "model.keras"), codec.encode(prompt).tolist()
    ours = list(prompt_ids)
    for _ in range(12):  # greedy, recomputed from scratch each step
        ours.append(int(np.asarray(model(np.array([ours], np.int32)))[0, -1].argmax()))
    assert codec.decode(ours) == greedy  # the CLI's greedy continuation
    done = run_python_alone(code, tmp_path / "gpt2_preset", json.dumps(prompt_ids), prompt)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs, their_prompt, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert not imported and len(ours) <= 16  # within the block: keras-hub's generate cannot slide past it
    assert their_prompt == prompt_ids and theirs == ours
