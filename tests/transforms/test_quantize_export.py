"""Post-training quantization (int8, int4, GPTQ) and the portable exports (LiteRT, ONNX), on one small run
of each model kind: which layers Keras reaches, that a quantized run evaluates, exports and comes back in a
fresh process with the outputs it had, and that LiteRT/ONNX compute what the model computes."""


import numpy as np
import pytest
import tensorflow as tf
from helpers import run_cli, run_python_alone, tiny_gpt

from tfmodels.config import apply_overrides, demo_config, demo_text_config, shipped_config
from tfmodels.errors import ConfigError, ExportError, RunDirError
from tfmodels.files import read_json
from tfmodels.run_folder import RunPaths, read_run_config
from tfmodels.saving import load_keras_model
from tfmodels.tasks import task_for
from tfmodels.transforms.quantization import quantized_layers
from tfmodels.verbs.export import export_run
from tfmodels.verbs.export_portable import LiteRTModel, OnnxModel, export_portable
from tfmodels.verbs.quantize import quantize_run
from tfmodels.verbs.train import train

pytestmark = pytest.mark.slow  # trains six small models, quantizes and converts them (a few minutes)

QUICK = ["logging.verbose=0", "logging.histogram_freq=0", "runtime.precision=float32"]
IMAGE_MODELS = {"cnn": ["model.type=cnn", "model.cnn.widths=[8,16]", "model.cnn.blocks_per_stage=1",
                        "trainer.optimizer=adamw", "trainer.learning_rate=0.003"],
                "vit": ["model.type=vit", "model.vit.patch_size=2", "model.vit.width=32", "model.vit.num_layers=2",
                        "model.vit.ffn_dim=64"]}
IMAGES = ("mlp", "cnn", "vit")  # float pixels in


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("runs")
    train(apply_overrides(demo_config(), [*QUICK, "trainer.epochs=15"]), work / "mlp")
    train(apply_overrides(demo_text_config(), [*QUICK, "data.train=synthetic?size=1600", "trainer.epochs=3",
                                               "trainer.warmup_steps=5"]), work / "text")
    train(apply_overrides(demo_text_config(), [*QUICK, "runtime.precision=mixed_bfloat16", "data.train=synthetic?size=800",
                                               "trainer.epochs=1", "trainer.warmup_steps=5"]), work / "text_bf16")
    train(apply_overrides(demo_config(), [*QUICK, "trainer.epochs=10", *IMAGE_MODELS["cnn"]]), work / "cnn")
    train(apply_overrides(demo_config(), [*QUICK, "trainer.epochs=10", *IMAGE_MODELS["vit"]]), work / "vit")
    train(apply_overrides(shipped_config("gpt_shakespeare_char"), tiny_gpt(
        work, "model.gpt.num_layers=2", "trainer.max_steps=60", "trainer.eval_interval=30", "trainer.batch_size=8",
        "runtime.xla=off", "trainer.steps_per_execution=1")), work / "gpt")
    return work


def inputs_of(run, split="validation", limit=64):
    paths = RunPaths(run)
    return task_for(read_run_config(paths)).model_inputs(paths, read_json(paths.data_info), split=split, limit=limit)


@pytest.mark.parametrize("kind,mode", [("mlp", "int8"), ("mlp", "int4"), ("text", "int8"), ("text_bf16", "int8"),
                                       ("vit", "int8"), ("gpt", "int8"), ("gpt", "gptq")])
def test_quantized_runs_reach_every_projection_evaluate_and_reload_alone(runs, kind, mode):
    out = runs / f"{kind}-{mode}"
    summary = quantize_run(runs / kind, mode, out=out)
    model = load_keras_model(out / "model.keras")
    layers = quantized_layers(model)
    denses = [layer.path for layer in model._flatten_layers() if type(layer).__name__ == "Dense"]
    if mode == "gptq":  # the decoder blocks' projections; embeddings (and the tied lm_head) stay float
        assert set(layers) == set(denses) and all(p.startswith("gpt/h_") for p in layers)
        assert all("gptq" in policy for policy in layers.values()) and "gpt/wte" in summary["float_layers"]
    else:  # every Dense and every token embedding: what stays float has no matrix to quantize
        embeddings = [layer.path for layer in model._flatten_layers() if type(layer).__name__ == "ReversibleEmbedding"]
        assert set(denses + embeddings) <= set(layers) and all(p.startswith(mode) for p in layers.values())
        assert all(any(n in p for n in ("norm", "ln_", "position", "wpe")) or p in summary["float_convolutions"]
                   for p in summary["float_layers"])  # a ViT's patch embedding is a convolution: float, and said
    assert summary["bytes"] < summary["float_bytes"]
    float_metric, metric = summary["float_validation"], summary["validation"]
    if kind == "gpt":
        assert abs(metric["loss"] - float_metric["loss"]) < (0.02 if mode == "int8" else 0.1)
    else:
        assert abs(metric["accuracy"] - float_metric["accuracy"]) <= (0.02 if mode == "int8" else 0.06)
    if kind == "text_bf16":  # under mixed_bfloat16 (the embedding's int8 output is cast to the compute dtype)
        assert model.compute_dtype == "bfloat16"
    assert read_json(out / "metrics.json")["evaluation"]["validation"] == metric  # `evaluate` wrote it there

    # The SavedModel of the quantized run serves what the quantized model computes.
    x = inputs_of(out, limit=8)
    expected = np.asarray(model(x, training=False))
    exported = export_run(out, out=runs / f"{kind}-{mode}-savedmodel")
    if kind == "gpt":
        served = tf.saved_model.load(str(exported)).signatures["serving_default"](token_ids=tf.constant(x))["logits"]
        np.testing.assert_allclose(served.numpy(), expected, atol=1e-4)

    np.save(runs / f"{kind}-{mode}-x.npy", x)
    np.save(runs / f"{kind}-{mode}-expected.npy", expected)


def test_keras_quantize_of_a_cnn_says_its_convolutions_stay_float(runs):
    from tfmodels.verbs.quantize import format_summary

    summary = quantize_run(runs / "cnn", "int8", out=runs / "cnn-int8")
    assert len(summary["float_convolutions"]) == 1 + 2 * 2 + 1  # stem, two blocks of two, one projection shortcut
    assert "6 convolutions stay float (Keras's quantize converts Dense, EinsumDense and Embedding layers); " \
           "`tfmodels export RUN --format litert --quantize int8` makes them int8" in format_summary(summary)


def test_quantized_files_reload_alone_in_a_fresh_process(runs):
    """A process that never saw the models loads each quantized file and computes the same outputs."""
    cases = sorted(p.name[:-len("-x.npy")] for p in runs.glob("*-x.npy"))
    assert len(cases) == 7  # every case of the test above
    result = run_python_alone(
        "import sys, numpy as np\nfrom tfmodels.saving import load_keras_model\n"
        "for case in sys.argv[2:]:\n"
        "    model = load_keras_model(f'{sys.argv[1]}/{case}/model.keras')\n"
        "    np.save(f'{sys.argv[1]}/{case}-reloaded.npy', np.asarray(model(np.load(f'{sys.argv[1]}/{case}-x.npy'))))",
        runs, *cases)
    assert result.returncode == 0, result.stderr[-2000:]
    for case in cases:
        np.testing.assert_allclose(np.load(runs / f"{case}-reloaded.npy"), np.load(runs / f"{case}-expected.npy"),
                                   atol=1e-5, err_msg=case)


def test_quantizing_twice_a_wrong_mode_or_an_unfinished_run_is_refused(runs, tmp_path):
    quantized = runs / "mlp-twice"
    quantize_run(runs / "mlp", "int8", out=quantized, evaluate=False)
    with pytest.raises(RunDirError, match="is quantized already \\(int8, from .*mlp\\); quantize the float run"):
        quantize_run(quantized, "int4")
    with pytest.raises(ConfigError, match="--mode gptq quantizes a causal LM's decoder blocks; .* is a mlp run"):
        quantize_run(runs / "mlp", "gptq")
    with pytest.raises(ConfigError, match="--mode 'int2' is not a quantization mode"):
        quantize_run(runs / "mlp", "int2")
    (tmp_path / "half").mkdir()
    with pytest.raises(RunDirError, match="holds no finished run"):
        quantize_run(tmp_path / "half", "int8")
    result = run_cli("quantize", runs / "mlp", "--mode", "int8", "--out", quantized, cwd=tmp_path, check=False)
    assert result.returncode != 0 and result.stderr.strip().splitlines() == [
        f"error: '{quantized}' exists already; quantize never overwrites: choose another --out"]


@pytest.mark.parametrize("kind", ["mlp", "cnn", "vit", "text", "gpt"])
def test_litert_and_onnx_compute_what_the_model_computes(runs, kind):
    x = inputs_of(runs / kind, limit=16)
    expected = np.asarray(load_keras_model(runs / kind / "model.keras")(x, training=False))
    if kind == "mlp":  # and the SavedModel, which a float export equals
        saved = tf.saved_model.load(str(export_run(runs / kind, out=runs / "mlp-savedmodel")))
        probabilities = saved.signatures["serving_default"](pixels=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(tf.nn.softmax(expected).numpy(), probabilities, atol=1e-5)
    for format, runner in (("litert", LiteRTModel), ("onnx", OnnxModel)):
        out, description = export_portable(runs / kind, format, out=runs / f"{kind}-{format}")
        np.testing.assert_allclose(runner(out / description["file"])(x), expected, atol=1e-4)
        assert description["max_abs_difference_from_keras"] < 1e-4
        assert description["input"]["dtype"] == ("float32" if kind in IMAGES else "int32")
        if kind not in IMAGES:  # the tokenizer's files travel beside the model, which takes token ids
            assert (out / description["tokenizer"]).is_file()


@pytest.mark.parametrize("kind", ["mlp", "cnn", "text"])
def test_litert_int8_keeps_accuracy_within_a_point(runs, kind):
    out, description = export_portable(runs / kind, "litert", out=runs / f"{kind}-litert-int8", quantize="int8")
    paths = RunPaths(runs / kind)
    inputs, labels, _, _ = task_for(read_run_config(paths)).evaluation_data(paths, read_json(paths.data_info), None, "test")
    model = load_keras_model(paths.model)
    float_accuracy = float(np.mean(np.argmax(model.predict(inputs, verbose=0), -1) == labels))
    int8_accuracy = float(np.mean(np.argmax(LiteRTModel(out / "model.tflite")(inputs), -1) == labels))
    assert abs(int8_accuracy - float_accuracy) <= 0.01, (float_accuracy, int8_accuracy)
    float_file = runs / f"{kind}-litert" / "model.tflite"  # the float conversion (the test above, or made here)
    if not float_file.is_file():
        export_portable(runs / kind, "litert", out=float_file.parent)
    # Four bytes a weight become one; the CNN here has 5,000 weights, so the file's fixed part weighs more.
    # The text model's: 137,232 of 345,844 bytes (39.7%) while its Dense layers ran on (B, T, C); on the
    # (B*T, C) stream 135,200 of 331,276 (40.8%): both files smaller, the float one more (2026-12-07).
    assert description["bytes"] < {"cnn": 0.6, "text": 0.42}.get(kind, 0.4) * float_file.stat().st_size


def test_portable_export_bad_inputs(runs, monkeypatch, tmp_path):
    with pytest.raises(ExportError, match="representative set 'synthetic'"):
        export_portable(runs / "mlp", "litert", out=tmp_path / "a", quantize="int8", representative="synthetic")
    with pytest.raises(ConfigError, match="--representative calibrates a full-integer conversion"):
        export_portable(runs / "mlp", "litert", out=tmp_path / "b", representative="digits")
    with pytest.raises(ConfigError, match="--quantize is LiteRT's conversion"):
        export_portable(runs / "mlp", "onnx", out=tmp_path / "c", quantize="int8")
    monkeypatch.setitem(__import__("sys").modules, "ai_edge_litert", None)  # as if the extra were not installed
    with pytest.raises(ExportError, match=r"--format litert needs the package 'ai-edge-litert', which is not "
                                          r"installed: install the deploy extra with pip install -e \"\.\[deploy\]\""):
        export_portable(runs / "mlp", "litert", out=tmp_path / "d")
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_a_sentence_pair_run_is_refused_by_the_portable_formats(tmp_path):
    pairs = tmp_path / "pairs"
    train(apply_overrides(shipped_config("encoder_pairs_synthetic"), [
        *QUICK, "data.train=synthetic_pairs?size=256", "data.validation=synthetic_pairs?size=64", "data.test=null",
        "trainer.epochs=1", "trainer.warmup_steps=0", "model.encoder.num_layers=1"]), pairs)
    for format in ("litert", "onnx"):
        with pytest.raises(ExportError, match=f"--format {format} takes one token-id input from our own tokenizer; "
                                              "a sentence-pair or preset run exports as a SavedModel"):
            export_portable(pairs, format, out=tmp_path / format)
        assert not (tmp_path / format).exists()
