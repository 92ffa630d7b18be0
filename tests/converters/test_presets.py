"""Published checkpoints (`init.preset`): a keras-hub preset folder fine-tuned, evaluated and exported
like any run; our encoder written as a preset keras-hub loads alone; hub names that fail fast
offline; and the bad inputs, each refused with one line. Nothing here downloads: the presets are
tiny random ones, written with keras-hub's own `save_to_preset` into a temporary folder."""

import json
import time

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import CONFIGS
from helpers import run_cli, run_python_alone

from tfmodels.config import Config, apply_overrides, load_config
from tfmodels.converters import presets
from tfmodels.data.synthetic import synthetic_reviews
from tfmodels.errors import ConfigError
from tfmodels.models import TextClassifier
from tfmodels.networks import BackboneEncoder
from tfmodels.transforms.lora import enable_lora, merged_copy

SYNTHETIC = CONFIGS / "encoder_synthetic.yaml"
SMALL = ["--set", "data.train=synthetic?size=2000", "--set", "trainer.epochs=1", "--set", "trainer.warmup_steps=5",
         "--set", "logging.histogram_freq=0"]


def write_bert_preset(folder, hidden_dim=16, extra_tokens=0, seed=3):
    """A tiny random BERT (2 layers) and its tokenizer, saved as keras-hub saves a published preset."""
    texts, _ = synthetic_reviews("train")
    words = sorted({w for t in texts for w in t.split()})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + [f"extra{i}" for i in range(extra_tokens)]
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocabulary) - extra_tokens, num_layers=2,
                                             num_heads=2, hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim,
                                             max_sequence_length=64)
    backbone.save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="module")
def bert_preset(tmp_path_factory):
    return write_bert_preset(tmp_path_factory.mktemp("presets") / "tiny_bert")


def test_the_classifier_starts_from_exactly_the_presets_backbone(bert_preset):
    """At step 0 our encoder's output is keras-hub's own `from_preset` model's (1e-5), segments included."""
    from tfmodels.tasks import task_for

    config = apply_overrides(Config(), ["model.type=transformer", "data.train=synthetic?size=200",
                                        "data.validation=synthetic", f"init.preset={bert_preset}",
                                        "data.tokenizer.sequence_length=24", "data.text.text_column=[0, 1]",
                                        "data.train=synthetic_pairs?size=200", "data.validation=synthetic_pairs"])
    task = task_for(config.validate())
    data = task.prepare(task.load())
    model = task.build_model(data)
    assert isinstance(model.encoder, BackboneEncoder)
    a = tf.constant(["the film is good", "the plot is not dull but the cast is weak"])
    b = tf.constant(["the film is bad", "the music is fun"])
    token_ids = data.preprocessor(a, b)
    theirs_preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(str(bert_preset), sequence_length=24)
    inputs = theirs_preprocessor(x=(a, b))
    np.testing.assert_array_equal(np.asarray(token_ids), np.asarray(inputs["token_ids"]))
    assert np.asarray(inputs["segment_ids"]).max() == 1
    theirs = keras_hub.models.Backbone.from_preset(str(bert_preset))
    np.testing.assert_allclose(np.asarray(model.encoder(token_ids)), np.asarray(theirs(inputs)["sequence_output"]),
                               atol=1e-5)


@pytest.mark.slow
def test_a_preset_fine_tunes_evaluates_and_exports_a_savedmodel_tensorflow_serves_alone(bert_preset, workdir):
    run_cli("train", SYNTHETIC, *SMALL, "--set", f"init.preset={bert_preset}", "--set", "name=from_preset",
            cwd=workdir)
    run = workdir / "runs/from_preset"
    assert (run / "preset/tokenizer.json").is_file() and not (run / "vocabulary.txt").exists()
    info = json.loads((run / "data.json").read_text())
    assert info["preset"]["family"] == "BertBackbone"
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 2
    evaluation = run_cli("evaluate", "runs/from_preset", cwd=workdir).stdout
    assert "accuracy" in evaluation
    run_cli("export", "runs/from_preset", "--out", "exported", cwd=workdir)
    test_accuracy = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    texts, labels = synthetic_reviews("test")  # the run's data.test: synthetic
    code = (
        "import sys, json, numpy as np, tensorflow as tf, tensorflow_text\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "texts = json.load(open(sys.argv[2]))\n"
        "out = m.signatures['serving_default'](text=tf.constant(texts))\n"
        "print(json.dumps(out['class_id'].numpy().tolist()))\n")
    (workdir / "texts.json").write_text(json.dumps(texts))
    result = run_python_alone(code, workdir / "exported", workdir / "texts.json")
    assert result.returncode == 0, result.stderr
    predicted = np.array(json.loads(result.stdout.splitlines()[-1]))
    assert abs(float(np.mean(predicted == labels)) - test_accuracy) < 1e-6  # the run's own test accuracy


@pytest.mark.parametrize("mode", ["frozen", "gradual", "lora"])
def test_fine_tuning_modes_reach_a_presets_backbone(bert_preset, mode, tmp_path):
    """frozen: only the head trains; gradual: the top block first; lora: adapters on keras-hub's query, key,
    value, output and feed-forward layers, merged back into plain kernels that compute the same."""
    backbone = presets.load_backbone(str(bert_preset))
    model = TextClassifier(BackboneEncoder(backbone, padding_id=0, separator_id=3), 2, pooling="mean")
    model.build((None, 12))
    token_ids = np.random.default_rng(0).integers(5, 40, size=(2, 12)).astype(np.int32)
    head = {id(w) for w in model.logits.weights}
    if mode == "frozen":
        model.encoder.trainable = False
        assert {id(w) for w in model.trainable_weights} == head
    elif mode == "gradual":
        assert [b.name for b in model.encoder.blocks] == ["transformer_layer_0", "transformer_layer_1"]
    else:
        enable_lora(model, rank=2)
        adapters = [w for w in model.trainable_weights if id(w) not in head]
        assert len(adapters) == 2 * 6 * 2 and all("lora" in w.path for w in adapters)  # 2 blocks x 6 layers x A, B
        for w in adapters:
            if "lora_kernel_b" in w.path:
                w.assign(np.random.default_rng(1).normal(size=w.shape).astype(np.float32))
        plain = merged_copy(model)
        assert not any("lora" in w.path for w in plain.weights)
        np.testing.assert_allclose(np.asarray(plain(token_ids)), np.asarray(model(token_ids)), atol=1e-4)
        path = tmp_path / "merged.keras"
        plain.save(path)
        reloaded = keras.models.load_model(path)
        np.testing.assert_allclose(np.asarray(reloaded(token_ids)), np.asarray(model(token_ids)), atol=1e-4)


def test_our_pretrained_encoder_exports_as_a_bert_preset_keras_hub_loads_alone(workdir):
    """A BERT-wired masked-LM run -> `export --format keras-hub` -> `BertBackbone.from_preset` in a process
    that never imports tfmodels: the same sequence output (1e-4) and the same token ids."""
    run_cli("train", CONFIGS / "encoder_mlm_bert.yaml", "--set", "data.train=synthetic?size=600",
            "--set", "runtime.precision=float32",
            "--set", "data.tokenizer.vocabulary_size=300", "--set", "data.tokenizer.sequence_length=16",
            "--set", "model.encoder.width=32", "--set", "model.encoder.ffn_dim=64", "--set", "trainer.epochs=1",
            "--set", "trainer.warmup_steps=2", "--set", "logging.histogram_freq=0", "--set", "name=mlm", cwd=workdir)
    out = run_cli("export", "runs/mlm", "--format", "keras-hub", "--out", "bert_preset", cwd=workdir).stdout
    assert "keras-hub preset written to bert_preset" in out
    from tfmodels.data.tokenizers import TextPreprocessor, load_vocabulary
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.saving import load_keras_model

    texts = ["the film is not dull", "the plot is good but the cast is weak"]
    config = read_run_config(RunPaths(workdir / "runs/mlm"))
    ours = TextPreprocessor(load_vocabulary(workdir / "runs/mlm/vocabulary.txt"), config.data.tokenizer)
    token_ids = np.asarray(ours(tf.constant(texts)))
    encoder = load_keras_model(workdir / "runs/mlm/encoder.keras")
    expected = np.asarray(encoder(token_ids))
    code = (
        "import sys, json, numpy as np, keras_hub\n"
        "ids = np.array(json.loads(sys.argv[2]), np.int32)\n"
        "backbone = keras_hub.models.BertBackbone.from_preset(sys.argv[1])\n"
        "out = backbone({'token_ids': ids, 'segment_ids': np.zeros_like(ids), 'padding_mask': ids != 0})\n"
        "tokenizer = keras_hub.models.BertTokenizer.from_preset(sys.argv[1])\n"
        "tokens = [np.asarray(tokenizer(text)).tolist() for text in sys.argv[3:]]\n"
        "print(json.dumps([np.asarray(out['sequence_output']).tolist(), tokens, 'tfmodels' in sys.modules]))\n")
    result = run_python_alone(code, workdir / "bert_preset", json.dumps(token_ids.tolist()), *texts)
    assert result.returncode == 0, result.stderr
    sequence, their_tokens, imported = json.loads(result.stdout.splitlines()[-1])
    assert not imported
    np.testing.assert_allclose(np.array(sequence), expected, atol=1e-4)
    for row, theirs in zip(token_ids, their_tokens):  # our ids after [CLS], up to the padding
        np.testing.assert_array_equal(row[1:1 + len(theirs)], theirs)


# --- hub names and bad input --------------------------------------------------------------------

def test_a_hub_name_offline_fails_within_seconds_with_one_line():
    if presets._reachable("huggingface.co") or presets._reachable("www.kaggle.com"):
        pytest.skip("a network is here: the hub would answer")
    for name in ("hf://google-bert/bert-base-uncased", "kaggle://keras/bert/keras/bert_tiny_en_uncased",
                 "bert_tiny_en_uncased"):
        started = time.monotonic()
        with pytest.raises(ConfigError, match="cannot be reached \\(no network\\?\\)") as raised:
            presets.resolve_preset(name)
        assert time.monotonic() - started < 10
        assert "\n" not in str(raised.value) and "save_to_preset" in str(raised.value)


def test_a_hub_name_through_the_command_line_exits_non_zero_with_one_line(workdir):
    if presets._reachable("huggingface.co"):
        pytest.skip("a network is here: the hub would answer")
    result = run_cli("train", SYNTHETIC, "--set", "init.preset=hf://google-bert/bert-base-uncased", cwd=workdir,
                     check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "huggingface.co" in errors[0], result.stderr
    assert not (workdir / "runs").exists()  # nothing was written


def test_a_folder_that_is_not_a_preset_says_what_is_missing(tmp_path):
    with pytest.raises(ConfigError, match="does not exist or is not a folder"):
        presets.resolve_preset(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="it has no config.json"):
        presets.resolve_preset(str(tmp_path))
    (tmp_path / "config.json").write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="neither a keras-hub config .* nor a Hugging Face one"):
        presets.resolve_preset(str(tmp_path))
    with pytest.raises(ConfigError, match="unknown scheme 'ftp://'"):
        presets.resolve_preset("ftp://example.com/bert")


def test_a_preset_of_another_family_and_a_tokenizer_that_does_not_match_are_refused(tmp_path):
    gpt2 = tmp_path / "gpt2"
    keras_hub.models.GPT2Backbone(vocabulary_size=300, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                                  max_sequence_length=16).save_to_preset(str(gpt2))
    with pytest.raises(ConfigError, match=r"\(GPT2Backbone\) has no text-classifier preprocessor"):
        presets.PresetPreprocessor(str(gpt2), 16)
    mismatched = write_bert_preset(tmp_path / "mismatched", extra_tokens=50)
    preprocessor = presets.PresetPreprocessor(str(mismatched), 16)
    with pytest.raises(ConfigError, match="tokenizer of .* has \\d+ tokens, but the backbone embeds \\d+"):
        presets.load_backbone(str(mismatched), preprocessor.vocabulary_size)


def test_init_preset_rules_in_the_config():
    with pytest.raises(ConfigError, match="init.from_run and init.preset both"):
        apply_overrides(Config(), ["model.type=transformer", "init.from_run=runs/a", "init.preset=x"]).validate()
    with pytest.raises(ConfigError, match="model.type=mlp cannot take one"):
        apply_overrides(Config(), ["model.type=mlp", "init.preset=x"]).validate()
    with pytest.raises(ConfigError, match="init.preset for a causal LM reads GPT-2's byte-level BPE"):
        apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"), ["init.preset=x"]).validate()


def test_export_as_a_keras_hub_preset_refuses_what_is_not_bert(workdir):
    run_cli("train", CONFIGS / "encoder_mlm.yaml", "--set", "data.train=synthetic?size=300",
            "--set", "data.tokenizer.vocabulary_size=200", "--set", "data.tokenizer.sequence_length=16",
            "--set", "model.encoder.width=16", "--set", "model.encoder.ffn_dim=32", "--set", "trainer.epochs=1",
            "--set", "trainer.warmup_steps=2", "--set", "logging.histogram_freq=0", "--set", "name=prenorm",
            cwd=workdir)
    refused = run_cli("export", "runs/prenorm", "--format", "keras-hub", "--out", "p", cwd=workdir, check=False)
    assert refused.returncode != 0 and not (workdir / "p").exists()
    assert "this encoder is not wired as BERT: norm_first=True" in refused.stderr, refused.stderr
    no_out = run_cli("export", "runs/prenorm", "--format", "keras-hub", cwd=workdir, check=False)
    assert no_out.returncode != 0 and "give it with --out DIR" in no_out.stderr


def test_lora_adapters_of_a_preset_classifier_reload_onto_the_base_by_path(bert_preset, workdir):
    """A LoRA run from a preset writes adapters.npz (adapters and head, keyed by weight path); put on a
    fresh classifier built on the same preset they give the merged model's logits; on another base, one line."""
    from tfmodels.config import load_config
    from tfmodels.errors import RunDirError
    from tfmodels.saving import load_adapters, load_keras_model, read_adapters
    from tfmodels.tasks import task_for

    run_cli("train", SYNTHETIC, *SMALL, "--set", f"init.preset={bert_preset}", "--set", "trainer.finetune=lora",
            "--set", "trainer.lora_rank=2", "--set", "name=lora", cwd=workdir)
    run = workdir / "runs/lora"
    meta, values = read_adapters(run / "adapters.npz")
    assert meta["base"] == str(bert_preset) and any("transformer_layer_1" in p and "lora_kernel_b" in p for p in values)
    assert any(p.endswith("logits/kernel") for p in values)  # the head trains too, so it travels with them
    merged = load_keras_model(run / "model.keras")
    config = load_config(run / "config.yaml")
    task = task_for(config)
    data = task.prepare(task.load())
    token_ids = data.preprocessor(tf.constant(["the film is not dull", "the plot is good but the cast is weak"]))
    fresh = load_adapters(task.build_model(data), run / "adapters.npz")
    np.testing.assert_allclose(np.asarray(fresh(token_ids)), np.asarray(merged(token_ids)), atol=1e-5)
    other = write_bert_preset(workdir / "other_base", seed=4)  # same shapes, other random weights
    config.init.preset = str(other)
    task = task_for(config)
    with pytest.raises(RunDirError, match="was trained on another base .* base weights differ"):
        load_adapters(task.build_model(task.prepare(task.load())), run / "adapters.npz")



# --- a causal LM from a Hugging Face GPT-2 folder ------------------------------------------------------

def write_hf_gpt2(folder):
    """A tiny random GPT-2 with a byte-level BPE learnt from the synthetic reviews, written in Hugging Face's
    format (config.json with model_type, model.safetensors, vocab.json, merges.txt) by keras-hub's exporter."""
    from tfmodels.data.lm_tokenizers import BytePairCodec

    texts, _ = synthetic_reviews("train")
    codec = BytePairCodec.learn(texts[:2000], 300)
    keras.utils.set_random_seed(5)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=codec.vocabulary, merges=codec.merges)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=codec.vocabulary_size, num_layers=2, num_heads=2,
                                             hidden_dim=32, intermediate_dim=128, max_sequence_length=128)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer=tokenizer, sequence_length=64)
    keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor).export_to_transformers(str(folder))
    return folder


@pytest.mark.slow
def test_a_hugging_face_gpt2_instruction_tuned_with_lora_and_its_adapters_reloaded_in_a_fresh_process(workdir):
    folder = write_hf_gpt2(workdir / "hf_gpt2")
    assert json.loads((folder / "config.json").read_text())["model_type"] == "gpt2"
    assert (folder / "model.safetensors").is_file() and (folder / "merges.txt").is_file()
    # Step 0: our GPT built from the folder computes what keras-hub's GPT-2 from the folder computes.
    from tfmodels.converters.keras_hub_gpt2 import from_gpt2_backbone
    from tfmodels.converters.presets import preset_codec

    theirs = keras_hub.models.Backbone.from_preset(str(folder))
    ours = from_gpt2_backbone(theirs, 64)
    ids = preset_codec(str(folder)).encode("the film is not dull")[None]
    hidden = theirs({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)})
    np.testing.assert_allclose(np.asarray(ours(ids)), np.asarray(theirs.token_embedding(hidden, reverse=True)),
                               atol=1e-4)
    run_cli("train", CONFIGS / "gpt_instructions_synthetic.yaml", "--set", f"init.preset={folder}",
            "--set", "trainer.finetune=lora", "--set", "trainer.lora_rank=4", "--set", "trainer.max_steps=200",
            "--set", "data.train=synthetic_instructions?size=1000", "--set", "name=hf_lora", cwd=workdir)
    run = workdir / "runs/hf_lora"
    assert json.loads((run / "data.json").read_text())["token_ids"]["vocabulary_size"] == theirs.vocabulary_size
    prompt = "reverse the words: the plot is good"
    assert run_cli("generate", "runs/hf_lora", prompt, "--max-new-tokens", "20", cwd=workdir).stdout.startswith(prompt)
    code = (
        "import sys, numpy as np, keras_hub\n"
        "from tfmodels.converters.keras_hub_gpt2 import from_gpt2_backbone\n"
        "from tfmodels.saving import load_adapters\n"
        "from tfmodels.transforms.lora import merged_copy\n"
        "from tfmodels.converters.presets import preset_codec\n"
        "from tfmodels.saving import load_keras_model\n"
        "if sys.argv[2].endswith('.keras'):\n"
        "    model = load_keras_model(sys.argv[2])  # the run's merged model\n"
        "else:  # the base, from the Hugging Face folder, and the adapters alone\n"
        "    base = from_gpt2_backbone(keras_hub.models.Backbone.from_preset(sys.argv[1]), 64, name='gpt')\n"
        "    model = merged_copy(load_adapters(base, sys.argv[2]))\n"
        "codec = preset_codec(sys.argv[1])\n"
        "ids = list(codec.encode(sys.argv[3]))\n"
        "start = len(ids)\n"
        "for _ in range(20):\n"
        "    nxt = int(np.asarray(model(np.array([ids], np.int32)))[0, -1].argmax())\n"
        "    if nxt == codec.end_of_text: break\n"
        "    ids.append(nxt)\n"
        "print(codec.decode(ids[start:]))\n")
    template = "### Instruction:\n{prompt}\n### Response:\n"
    outputs = []
    for weights in (run / "adapters.npz", run / "model.keras"):  # greedy, recomputed each step, in fresh processes
        done = run_python_alone(code, folder, weights, template.format(prompt=prompt))
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].strip()
