"""Instruction tuning of a causal LM: prompt/response pairs in a template, the loss on the response
tokens alone (padding never counted), generation in the same template stopping at <|endoftext|>, LoRA
adapters that reload onto their base, and the bad inputs."""

import json
import math

import keras
import numpy as np
import pytest
from conftest import CONFIGS
from helpers import run_cli

from tfmodels.config import Config, apply_overrides, load_config
from tfmodels.data.instruction_pipeline import instruction_examples
from tfmodels.data.lm_tokenizers import BytePairCodec
from tfmodels.data.synthetic import synthetic_instructions
from tfmodels.data.text import load_text
from tfmodels.errors import ConfigError, DataError
from tfmodels.verbs.generate import generate

TEMPLATE = "Q: {prompt}\nA: "
CONFIG = CONFIGS / "gpt_instructions_synthetic.yaml"


@pytest.fixture(scope="module")
def codec():
    prompts, responses = synthetic_instructions("train", 400)
    return BytePairCodec.learn([TEMPLATE.format(prompt=p) for p in prompts] + responses, 400)


def test_the_loss_mask_is_the_response_and_its_end(codec):
    prompts, responses = ["reverse the words: the film is good", "is this review positive or negative? bad"], \
                         ["good is film the", "negative"]
    block = 40
    examples = instruction_examples(prompts, responses, codec, TEMPLATE, block)
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        p, r = codec.encode(TEMPLATE.format(prompt=prompt)), codec.encode(response)
        targets = examples.y[i][examples.weight[i] == 1]
        np.testing.assert_array_equal(targets, np.append(r, codec.end_of_text))  # the response, then its end
        assert examples.weight[i].sum() == len(r) + 1 and examples.weight[i][:len(p) - 1].sum() == 0
        np.testing.assert_array_equal(examples.x[i][:len(p)], p)
    np.testing.assert_array_equal(examples.weight, examples.response_weight)
    with_prompt = instruction_examples(prompts, responses, codec, TEMPLATE, block, loss_on_prompt=True)
    real = (with_prompt.weight == 1)
    assert (with_prompt.weight.sum(axis=1) > examples.weight.sum(axis=1)).all()
    assert not real[0][int(real[0].sum()):].any()  # padding after the end: never in the loss
    np.testing.assert_array_equal(with_prompt.response_weight, examples.response_weight)  # evaluation: responses


def test_a_long_pair_loses_the_start_of_its_prompt_not_its_response(codec):
    prompt, response = "reverse the words: " + "the film is good " * 20, "good is film the"
    examples = instruction_examples([prompt], [response], codec, TEMPLATE, 24)
    assert examples.cut_prompts == 1 and examples.cut_responses == 0
    targets = examples.y[0][examples.weight[0] == 1]
    np.testing.assert_array_equal(targets, np.append(codec.encode(response), codec.end_of_text))


def test_the_training_loss_is_the_mean_over_response_tokens(codec):
    """Keras's loss with `mean_with_sample_weight` equals the NumPy mean cross-entropy of the weighted targets."""
    from tfmodels.tasks import task_for

    prompts, responses = synthetic_instructions("train", 64)
    examples = instruction_examples(prompts[:8], responses[:8], codec, TEMPLATE, 32)
    config = apply_overrides(load_config(CONFIG), ["model.gpt.block_size=32", "model.gpt.width=32",
                                                   "model.gpt.num_layers=1"])
    task = task_for(config)
    loss = task.compile_args()["loss"]
    logits = np.random.default_rng(0).normal(size=(8, 32, codec.vocabulary_size)).astype(np.float32)
    got = float(loss(examples.y, logits, sample_weight=examples.weight))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_token = -np.take_along_axis(log_probs, examples.y[..., None], -1)[..., 0]
    assert math.isclose(got, float((per_token * examples.weight).sum() / examples.weight.sum()), rel_tol=1e-5)


def test_instruction_tuning_learns_and_generates_in_its_template(workdir):
    run_cli("train", CONFIG, "--set", "trainer.max_steps=300", "--set", "name=it", cwd=workdir)
    run = workdir / "runs/it"
    info = json.loads((run / "data.json").read_text())
    assert info["instructions"]["loss_on_prompt"] is False and info["examples"] == {"train": 4000, "validation": 400}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["loss"] < 0.5, metrics  # per response token (ln 512 = 6.2 at chance)
    prompts, responses = synthetic_instructions("validation")
    for index, (prompt, response) in enumerate(list(zip(prompts, responses))[:4]):
        if index == 0:  # the command, as a user runs it; then the same verb in this process (no TF start-up)
            answer = run_cli("generate", "runs/it", prompt, "--max-new-tokens", "40", cwd=workdir).stdout
            answer = answer[len(prompt):].rstrip("\n")
        else:
            answer = generate(run, prompt, max_new_tokens=40).text
        assert answer and len(answer) < len(response) + 20  # it stopped at <|endoftext|>, not after 40 tokens
        if prompt.startswith("is this review"):  # an answer of the asked kind (right or not, after 300 steps)
            assert answer in ("positive", "negative"), (prompt, answer)
    evaluation = run_cli("evaluate", "runs/it", cwd=workdir).stdout
    assert "validation" in evaluation


@pytest.mark.slow
def test_lora_instruction_tuning_of_a_pretrained_gpt_and_its_adapters_in_a_fresh_process(workdir):
    """A GPT pretrained on the reviews' text, instruction-tuned with LoRA; the adapters alone, put back on
    the base by another process, generate exactly what the merged run generates (greedy)."""
    (workdir / "reviews.txt").write_text("\n".join(load_text("synthetic", "train").texts), encoding="utf-8")
    base = ["--set", "model.gpt.block_size=64", "--set", "model.gpt.num_layers=2", "--set", "model.gpt.width=64",
            "--set", "model.gpt.num_heads=4", "--set", "data.tokenizer.kind=bpe",
            "--set", "data.tokenizer.vocabulary_size=512", "--set", "trainer.max_steps=200",
            "--set", "trainer.eval_interval=100", "--set", "trainer.eval_batches=2", "--set", "logging.histogram_freq=0"]
    run_cli("train", CONFIGS / "gpt_shakespeare_char.yaml", "--set", "data.train=text:reviews.txt?whole=true",
            *base, "--set", "name=base", cwd=workdir)
    run_cli("train", CONFIG, "--set", "model.gpt.width=64", "--set", "init.from_run=runs/base",
            "--set", "trainer.finetune=lora", "--set", "trainer.lora_rank=4", "--set", "trainer.max_steps=200",
            "--set", "data.train=synthetic_instructions?size=1000", "--set", "name=lora", cwd=workdir)
    adapters = workdir / "runs/lora/adapters.npz"
    assert adapters.stat().st_size < (workdir / "runs/base/model.keras").stat().st_size / 3
    prompt = synthetic_instructions("validation")[0][1]
    merged = run_cli("generate", "runs/lora", prompt, "--max-new-tokens", "30", cwd=workdir).stdout
    again = run_cli("generate", "runs/base", prompt, "--max-new-tokens", "30", "--adapters", adapters,
                    cwd=workdir).stdout
    plain = run_cli("generate", "runs/base", prompt, "--max-new-tokens", "30", cwd=workdir).stdout
    assert again != plain  # the adapters changed what the base says
    assert merged == again and len(merged) > len(prompt)


# --- bad input ----------------------------------------------------------------------------------------

def test_bad_instruction_inputs(tmp_path):
    from tfmodels.config import TextTableOptions

    options = TextTableOptions(template=TEMPLATE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n', encoding="utf-8")
    with pytest.raises(DataError, match='line 2 has no "response" text'):
        load_text(f"jsonl:{bad}", "train", options, labelled=False)
    bad.write_text('{"prompt": "a", "response": "b"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not JSON"):
        load_text(f"jsonl:{bad}", "train", options, labelled=False)
    bad.write_text('{"prompt": "a", "response": "  "}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: the response is empty"):
        load_text(f"jsonl:{bad}", "train", options, labelled=False)
    with pytest.raises(ConfigError, match="template must hold \\{prompt\\} exactly once"):
        apply_overrides(load_config(CONFIG), ["data.text.template=no prompt here"]).validate()
    with pytest.raises(ConfigError, match="model.type=gpt with data.tokenizer.kind=bpe"):
        apply_overrides(load_config(CONFIG), ["data.tokenizer.kind=character"]).validate()
    with pytest.raises(ConfigError, match="model.type=gpt with data.tokenizer.kind=bpe"):
        apply_overrides(Config(), ["model.type=transformer", "data.text.template=Q: {prompt}"]).validate()


def test_single_texts_for_instruction_tuning_say_what_to_give(workdir):
    (workdir / "plain.txt").write_text("one line\nanother line\n" * 50, encoding="utf-8")
    result = run_cli("train", CONFIG, "--set", "data.train=text:plain.txt", "--set", "data.validation=null",
                     cwd=workdir, check=False)
    assert result.returncode != 0
    assert "data.text.template asks for prompt/response pairs: use jsonl:PATH" in result.stderr, result.stderr


def test_keras_loss_is_not_the_default_reduction():
    """The trap the brief names: `sum_over_batch_size` divides by every target, zero weights included."""
    y = np.array([[1, 2, 0, 0]])
    logits = np.zeros((1, 4, 3), np.float32)
    weight = np.array([[1.0, 1.0, 0.0, 0.0]])
    default = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits, sample_weight=weight)
    assert math.isclose(float(default), math.log(3) / 2, rel_tol=1e-5)  # halved by the two padded targets
