"""Masked-LM pretraining, and fine-tuning a classifier from the pretrained run (full, frozen, LoRA)."""

import numpy as np
import pytest
from conftest import CONFIGS
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tfmodels.config import (
    MaskedLMConfig,
    TokenizerConfig,
    apply_overrides,
    load_config,
    schema,
)
from tfmodels.data.masked_lm_pipeline import (
    mask_generator,
    masked_lm_dataset,
    token_chunks,
)
from tfmodels.data.text import load_text
from tfmodels.data.tokenizers import TextPreprocessor, learn_vocabulary
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks import task_for
from tfmodels.training.loop import RetraceWhenTrainableChanges
from tfmodels.transforms.lora import DEFAULT_TARGETS, LORA_TARGET_NAMES, enable_lora, merged_copy
from tfmodels.verbs.train import train

SMALL_ENCODER = ["model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2",
                 "model.encoder.ffn_dim=64", "data.tokenizer.vocabulary_size=300", "data.tokenizer.sequence_length=32",
                 "logging.verbose=0", "logging.histogram_freq=0"]
FINETUNE = [*SMALL_ENCODER, "data.train=synthetic?size=1000", "data.validation=synthetic?size=1000",
            "data.test=null", "trainer.epochs=1", "trainer.warmup_steps=5", "trainer.learning_rate=0.001"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("mlm") / "run"
    config = apply_overrides(load_config(CONFIGS / "encoder_mlm.yaml"),
                             [*SMALL_ENCODER, "data.train=synthetic?size=3000", "trainer.epochs=1",
                              "trainer.warmup_steps=5", "trainer.batch_size=32"])
    result = train(config, run)
    return run, result


def finetune_config(run, *overrides):
    return apply_overrides(load_config(CONFIGS / "encoder_sst2_finetune.yaml"),
                           [*FINETUNE, f"init.from_run={run}", *overrides])


# --- the masked-LM pipeline ---------------------------------------------------------------------

def test_masked_positions_weights_and_labels_line_up():
    texts = load_text("synthetic?size=500", "train").texts
    config = TokenizerConfig(vocabulary_size=300, sequence_length=32)
    pre = TextPreprocessor(learn_vocabulary(texts, config), config)
    chunks = token_chunks(texts, pre)
    assert chunks.shape[1] == 32 and (chunks[:, 0] == pre.cls_id).all()
    masker = mask_generator(MaskedLMConfig(), pre)
    ds = masked_lm_dataset(chunks, masker, 16, training=False, seed=0, cache=False)
    inputs, labels, weights = next(ds.as_numpy_iterator())
    original = chunks[:16]
    selected_total = 0
    for row in range(16):
        positions = inputs["mask_positions"][row][weights[row] == 1]
        selected_total += len(positions)
        np.testing.assert_array_equal(labels[row][weights[row] == 1], original[row][positions])  # labels = originals
        assert (labels[row][weights[row] == 0] == 0).all()  # empty slots: label 0, weight 0
        untouched = np.setdiff1d(np.arange(32), positions)
        np.testing.assert_array_equal(inputs["token_ids"][row][untouched], original[row][untouched])
        assert 0 not in positions  # [CLS] is never masked
    assert 0.10 < selected_total / (16 * 31) < 0.20  # about 15% of the selectable tokens
    replaced = inputs["token_ids"] != original
    assert (inputs["token_ids"][replaced] == pre.mask_id).mean() > 0.7  # mostly [MASK], some random tokens


def test_masks_are_drawn_from_seed_and_step_so_a_resume_masks_alike():
    """The batches of epoch 1 are the same from a stream that starts at epoch 0 and from one that
    starts at epoch 1 (a resume); epochs differ from each other; evaluation masks never change."""
    texts = load_text("synthetic?size=400", "train").texts
    config = TokenizerConfig(vocabulary_size=300, sequence_length=32)
    pre = TextPreprocessor(learn_vocabulary(texts, config), config)
    chunks = token_chunks(texts, pre)
    masker = mask_generator(MaskedLMConfig(), pre)
    steps = len(chunks) // 16

    def batches(ds):
        return [(x["token_ids"], x["mask_positions"], y, w) for x, y, w in ds.as_numpy_iterator()]

    whole = batches(masked_lm_dataset(chunks, masker, 16, training=True, seed=5, epochs=2))
    resumed = batches(masked_lm_dataset(chunks, masker, 16, training=True, seed=5, epochs=2, first_epoch=1))
    assert len(whole) == 2 * steps and len(resumed) == steps
    for a, b in zip(whole[steps:], resumed):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(whole[0][1], whole[steps][1])  # a new epoch, new masks
    first = batches(masked_lm_dataset(chunks, masker, 16, training=False, seed=5, cache=False))
    again = batches(masked_lm_dataset(chunks, masker, 16, training=False, seed=5, cache=False))
    np.testing.assert_array_equal(first[0][1], again[0][1])
    # Each sequence (evaluation batches are the chunks in order): round(15% of its selectable tokens) masks.
    selectable = ~np.isin(chunks[:16], [pre.pad_id, pre.cls_id, pre.vocabulary.index("[SEP]")])
    expected = np.minimum(masker.mask_selection_length, np.maximum(1, np.round(0.15 * selectable.sum(axis=1))))
    np.testing.assert_array_equal(first[0][3].sum(axis=1), expected)


def _numpy_token_cross_entropy(logits, labels, weights):
    """The cross-entropy of every slot, by hand: log-sum-exp minus the label's logit."""
    logits = logits.astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    return (log_z - picked) * weights


def test_loss_and_perplexity_are_per_masked_token():
    """Sequences with 3, 1 and 0 masks (of 4 slots): the loss is the mean over the 4 real masks, not the
    12 slots, and perplexity is exp of it; over two batches, perplexity is the corpus per-token value."""
    import keras

    from tfmodels.models import build_encoder
    from tfmodels.models.masked_lm import MaskedLMModel
    from tfmodels.tasks.masked_lm import lm_compile_args

    config = apply_overrides(load_config(CONFIGS / "encoder_mlm.yaml"), SMALL_ENCODER)
    encoder = build_encoder(config.model, 50, 8)
    model = MaskedLMModel(encoder)
    model.build({"token_ids": (None, 8), "mask_positions": (None, 4)})
    model.compile(**lm_compile_args())
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 50, size=(3, 8)).astype(np.int32)
    positions = np.array([[1, 2, 5, 0], [3, 0, 0, 0], [0, 0, 0, 0]], np.int32)
    weights = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.float32)
    labels = np.where(weights > 0, rng.integers(5, 50, size=(3, 4)), 0).astype(np.int32)
    inputs = {"token_ids": tokens, "mask_positions": positions}
    logits = model.predict(inputs, verbose=0)
    expected = _numpy_token_cross_entropy(logits, labels, weights).sum() / weights.sum()
    result = model.evaluate(inputs, labels, sample_weight=weights, batch_size=3, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(expected, abs=1e-5)
    assert result["perplexity"] == pytest.approx(np.exp(expected), rel=1e-5)
    assert result["perplexity"] == pytest.approx(np.exp(result["loss"]), rel=1e-5)

    # Two batches with different mask counts (4, then 1): perplexity is over the 5 tokens together.
    all_ce = _numpy_token_cross_entropy(logits, labels, weights)
    corpus = np.exp(all_ce.sum() / weights.sum())
    result = model.evaluate(inputs, labels, sample_weight=weights, batch_size=1, verbose=0, return_dict=True)
    assert result["perplexity"] == pytest.approx(corpus, rel=1e-5)
    # Weight-0 slots carry no loss: their labels can be anything.
    other = labels.copy()
    other[weights == 0] = 7
    again = model.evaluate(inputs, other, sample_weight=weights, batch_size=3, verbose=0, return_dict=True)
    assert again["loss"] == pytest.approx(expected, abs=1e-5)
    # Keras's default reduction would have divided by all 12 slots: the understatement this fixes.
    default = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(default(labels, logits, sample_weight=weights)) == pytest.approx(expected * 4 / 12, abs=1e-5)


# --- pretraining ----------------------------------------------------------------------------------

def test_pretraining_run_keeps_encoder_and_vocabulary_and_logs(pretrained):
    run, result = pretrained
    assert (run / "encoder.keras").is_file() and (run / "vocabulary.txt").is_file()
    assert set(result.metrics["validation"]) == {"loss", "masked_accuracy", "perplexity"}
    accumulator = EventAccumulator(str(run / "logs/train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    for tag in ("epoch_loss", "epoch_masked_accuracy", "epoch_perplexity", "epoch_tokens_per_second",
                "epoch_learning_rate"):
        assert tag in accumulator.Tags()["tensors"], tag
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"perplexity", "val_perplexity", "tokens_per_second"} <= set(header)


def test_a_pretraining_run_loads_after_import_tfmodels(pretrained):
    """Its model.keras names MaskedLMModel, registered by `import tfmodels`."""
    from helpers import run_python_alone

    run, _ = pretrained
    loaded = run_python_alone("import sys, keras, tfmodels; print(type(keras.models.load_model(sys.argv[1])).__name__)",
                              run / "model.keras")
    assert loaded.stdout.strip().splitlines()[-1] == "MaskedLMModel", loaded.stderr[-2000:]


def test_evaluate_a_pretraining_run_on_any_corpus(pretrained, tmp_path, capsys):
    """`tfmodels evaluate RUN --data text:FILE`: loss and perplexity per masked token, masked accuracy,
    in metrics.json; the same corpus twice gives the same numbers; the perplexity is exp(loss) per token."""
    from tfmodels.cli import main
    from tfmodels.files import read_json

    run, _ = pretrained
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(load_text("synthetic?size=300&split=test", "test").texts) + "\n")
    assert main(["evaluate", str(run), "--data", f"text:{corpus}"]) == 0
    out = capsys.readouterr().out
    result = read_json(run / "metrics.json")["evaluation"]["data"]
    assert result["kind"] == "language_model" and result["masked_tokens"] > result["sequences"] > 0
    assert {"loss", "perplexity", "masked_accuracy"} <= set(result)
    assert f"perplexity {result['perplexity']:.2f}" in out
    # One token-weighted corpus mean: exp(loss) and perplexity agree to the spread of mask counts.
    assert result["perplexity"] == pytest.approx(np.exp(result["loss"]), rel=0.02)
    assert main(["evaluate", str(run), "--data", f"text:{corpus}"]) == 0
    assert read_json(run / "metrics.json")["evaluation"]["data"]["loss"] == result["loss"]
    assert main(["evaluate", str(run)]) == 0  # its own validation text
    assert "validation" in read_json(run / "metrics.json")["evaluation"]


def test_export_a_pretraining_run_as_a_feature_extractor(pretrained, tmp_path):
    """Raw strings in; `pooled_output` (B, C) and `sequence_output` (B, T, C) out, loaded with TensorFlow
    alone; they equal the encoder's own vectors (the mean over real tokens for the pooled one)."""
    from helpers import run_python_alone

    from tfmodels.verbs.export import export_run

    run, _ = pretrained
    out = export_run(run, out=tmp_path / "export")
    script = (
        "import sys, json, numpy as np, tensorflow as tf, tensorflow_text\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "o = m.signatures['serving_default'](text=tf.constant(['the film is good', 'a dull and long ending']))\n"
        "np.save(sys.argv[1] + '/../pooled.npy', o['pooled_output'].numpy())\n"
        "print(json.dumps({k: list(v.shape) for k, v in o.items()}))\n")
    done = run_python_alone(script, out)
    shapes = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert shapes == {"pooled_output": [2, 32], "sequence_output": [2, 32, 32], "padding_mask": [2, 32]}, done.stderr
    from tfmodels.data.tokenizers import TextPreprocessor, load_vocabulary

    config = apply_overrides(load_config(CONFIGS / "encoder_mlm.yaml"), SMALL_ENCODER)
    pre = TextPreprocessor(load_vocabulary(run / "vocabulary.txt"), config.data.tokenizer)
    ids = np.asarray(pre(["the film is good", "a dull and long ending"]))
    h = np.asarray(load_keras_model(run / "encoder.keras")(ids))
    tolerance = 1e-5 if h.dtype == np.float32 else 2e-2  # a bfloat16 run: 8 bits of mantissa, kernels may differ
    h, real = h.astype(np.float32), (ids != pre.pad_id)[..., None]
    np.testing.assert_allclose(np.load(tmp_path / "pooled.npy"), (h * real).sum(1) / real.sum(1), atol=tolerance)
    assert read_json_export(out)["kind"] == "features"


def read_json_export(out):
    from tfmodels.files import read_json

    return read_json(out / "tfmodels_export.json")


# --- fine-tuning ----------------------------------------------------------------------------------

def build_finetune_model(config):
    task = task_for(config)
    data = task.prepare(task.load())
    model = task.build_model(data)
    task.warm_start(model, RunPaths(config.init.from_run))
    return task, data, model


def test_loading_a_pretrained_run_copies_the_encoder_exactly(pretrained):
    run, _ = pretrained
    _, _, model = build_finetune_model(finetune_config(run))
    encoder = load_keras_model(run / "encoder.keras")
    assert len(model.encoder.weights) == len(encoder.weights)
    for mine, theirs in zip(model.encoder.weights, encoder.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_frozen_encoder_does_not_change(pretrained, tmp_path):
    run, _ = pretrained
    result = train(finetune_config(run, "trainer.finetune=frozen"), tmp_path / "frozen")
    encoder = load_keras_model(run / "encoder.keras")
    for mine, theirs in zip(result.model.encoder.weights, encoder.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    assert {w.path.split("/")[-2] for w in result.model.trainable_weights} == {"logits"}


def test_lora_trains_only_adapters_and_head_and_merges_exactly(pretrained, tmp_path):
    run, _ = pretrained
    result = train(finetune_config(run, "trainer.finetune=lora", "trainer.lora_rank=4"), tmp_path / "lora")
    model = result.model
    names = {w.path.split("/")[-1] for w in model.trainable_weights}
    assert names == {"lora_kernel_a", "lora_kernel_b", "kernel", "bias"}
    assert all("logits" in w.path for w in model.trainable_weights if w.path.endswith(("/kernel", "/bias")))
    encoder = load_keras_model(run / "encoder.keras")
    for mine, theirs in zip(model.encoder.embeddings.weights, encoder.embeddings.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    from tfmodels.transforms.lora import weight_path

    # model.keras holds the merged model: plain Dense layers whose kernels are W + (alpha / r) A B exactly, and
    # the trained model (its adapters restored with the best weights) computes the same, up to the compute
    # precision (bfloat16 here: the LoRA path x W + (x A) B rounds differently from x (W + A B)).
    plain = load_keras_model(tmp_path / "lora/model.keras")
    assert not any("lora" in w.path for w in plain.weights)
    lora = {weight_path(model, layer._kernel): layer for layer in model._flatten_layers(include_self=False)
            if getattr(layer, "lora_enabled", False)}
    merged = {weight_path(plain, layer.kernel): layer for layer in plain._flatten_layers(include_self=False)
              if hasattr(layer, "kernel") and weight_path(plain, layer.kernel) in lora}
    assert len(lora) == 4 * len(model.encoder.blocks) and set(merged) == set(lora)
    for path, layer in lora.items():
        expected = np.asarray(layer._kernel) + (layer.lora_alpha / layer.lora_rank) * (
            np.asarray(layer.lora_kernel_a) @ np.asarray(layer.lora_kernel_b))
        np.testing.assert_allclose(np.asarray(merged[path].kernel), expected, atol=1e-6)
    assert any(np.abs(np.asarray(layer.lora_kernel_b)).max() > 0 for layer in lora.values())  # they learnt
    token_ids = np.random.default_rng(0).integers(5, model.encoder.vocabulary_size, (4, 32))
    tolerance = 1e-5 if model.dtype_policy.compute_dtype == "float32" else 0.05
    np.testing.assert_allclose(np.asarray(plain(token_ids)), np.asarray(model(token_ids)), atol=tolerance)


def test_lora_changes_only_adapters_and_head(pretrained):
    import keras

    run, _ = pretrained
    config = finetune_config(run, "trainer.finetune=lora", "trainer.lora_rank=4")
    task, data, model = build_finetune_model(config)
    task.configure_training(model)
    before = {w.path: np.array(w) for w in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), **task.compile_args())
    train_ds, _ = task.datasets(data, 32, seed=0, epochs=1)
    model.fit(train_ds.take(5), epochs=1, verbose=0, shuffle=False)
    changed = {w.path for w in model.weights if not np.array_equal(np.array(w), before[w.path])}
    assert changed, "training changed nothing"
    assert all("lora_kernel" in path or "/logits/" in path for path in changed), sorted(changed)
    assert any("lora_kernel_b" in path for path in changed) and any("/logits/" in path for path in changed)


@pytest.mark.parametrize("alpha, targets", [(None, DEFAULT_TARGETS), (16.0, LORA_TARGET_NAMES)])
def test_merged_copy_equals_adapted_model_with_nonzero_adapters(pretrained, alpha, targets):
    run, _ = pretrained
    _, _, model = build_finetune_model(finetune_config(run))
    token_ids = np.random.default_rng(1).integers(5, model.encoder.vocabulary_size, (3, 32))
    before = np.asarray(model(token_ids))
    enable_lora(model, 4, alpha, targets)
    factors = {w.path.split("/")[-1] for w in model.trainable_weights if "lora" in w.path}
    assert factors == ({"lora_kernel_a", "lora_kernel_b", "lora_embeddings_a", "lora_embeddings_b"}
                       if "token_embedding" in targets else {"lora_kernel_a", "lora_kernel_b"})
    for w in model.trainable_weights:
        if w.path.endswith(("lora_kernel_b", "lora_embeddings_b")):
            w.assign(np.random.default_rng(2).normal(scale=0.2, size=w.shape))
    adapted = np.asarray(model(token_ids))
    assert np.abs(adapted - before).max() > 1e-3  # the adapters do something
    np.testing.assert_allclose(np.asarray(merged_copy(model)(token_ids)), adapted, atol=1e-5)
    if alpha is not None:  # the merged matrix is W + (alpha / r) A B
        dense = model.encoder.blocks[0].c_fc
        expected = np.asarray(dense._kernel) + alpha / 4 * np.asarray(dense.lora_kernel_a) @ np.asarray(
            dense.lora_kernel_b)
        np.testing.assert_allclose(np.asarray(dense.kernel), expected, atol=1e-5)


def test_the_config_knows_every_lora_target():
    assert LORA_TARGET_NAMES == schema.LORA_TARGET_NAMES


@pytest.mark.parametrize("override, message", [
    ("data.tokenizer.sequence_length=48", "data.tokenizer.sequence_length=48 (pretrained: 32)"),
    ("model.encoder.width=64", "model.encoder.width=64 (pretrained: 32)"),
    ("model.encoder.layer_norm_epsilon=1e-12", "model.encoder.layer_norm_epsilon=1e-12 (pretrained: 1e-05)"),
])
def test_a_config_that_does_not_match_the_pretrained_run(pretrained, override, message):
    run, _ = pretrained
    with pytest.raises(ConfigError, match=r"init.from_run: this config does not match the run in .*" + message.replace(
            "(", r"\(").replace(")", r"\)")):
        task_for(finetune_config(run, override)).load()


def test_from_run_that_is_not_a_text_run(tmp_path):
    image_run = tmp_path / "digits"
    train(apply_overrides(load_config(CONFIGS / "mlp_digits.yaml"),
                          ["trainer.epochs=1", "logging.verbose=0", "model.mlp.hidden_units=[8]"]), image_run)
    with pytest.raises(RunDirError, match="has no vocabulary.txt; it is not a text run"):
        task_for(finetune_config(image_run)).load()


def test_gradual_unfreezing_trains_the_top_block_first(pretrained):
    """Epoch 1 trains the head alone; epoch 2 the head and the top (only) block; the embeddings not yet."""
    import keras

    run, _ = pretrained
    config = finetune_config(run, "trainer.finetune=gradual", "trainer.unfreeze_every=1", "model.encoder.dropout=0.0")
    task, data, model = build_finetune_model(config)
    task.configure_training(model)
    original = {w.path: np.array(w) for w in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), **task.compile_args())
    train_ds, _ = task.datasets(data, 32, seed=0, epochs=2)
    changed_by_epoch = []

    class Changed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            changed_by_epoch.append({w.path for w in model.weights if not np.array_equal(np.array(w), original[w.path])})

    # The seam's retracing rule (training/loop.py) turns the new trainable set into a new train step.
    callbacks = [*task.callbacks(model, data, 32), RetraceWhenTrainableChanges(), Changed()]
    model.fit(train_ds, steps_per_epoch=5, epochs=2, verbose=0, shuffle=False, callbacks=callbacks)
    top_block = {w.path for w in model.encoder.blocks[-1].weights}
    embeddings = {w.path for w in model.encoder.embeddings.weights}
    first, second = changed_by_epoch
    assert first and not first & top_block and not first & embeddings  # the head alone
    assert second & top_block and not second & embeddings  # then the top block too


@pytest.mark.slow
def test_pretraining_helps_after_a_few_steps(tmp_path):
    """A classifier on an encoder pretrained for one epoch with masked-LM on the reviews' text is ahead of
    the same classifier from random init (same seed, same schedule): a lower validation loss after each of
    its two epochs (312 steps each), and at most half of it after the second.

    Measured (float32): from scratch 0.692 then 0.691, pretrained 0.478 then 0.003. Accuracy after one
    epoch was the earlier criterion; it sits on the jump from chance to ~1.0, where float rounding alone
    (a fused optimizer kernel equal to Keras's to 1e-6 a step) moved the pretrained run from 0.68 to 0.53."""
    import csv

    from tfmodels.config import demo_text_config

    # float32, the precision these numbers were measured in.
    quick = ["logging.verbose=0", "logging.histogram_freq=0", "trainer.warmup_steps=20", "data.test=null",
             "runtime.precision=float32"]
    train(apply_overrides(demo_text_config(), [*quick, "trainer.epochs=1", "model.type=masked_lm",
                                               "data.validation=null"]), tmp_path / "mlm")
    val_loss = {}
    for name, extra in (("scratch", []), ("pretrained", [f"init.from_run={tmp_path / 'mlm'}"])):
        train(apply_overrides(demo_text_config(), [*quick, "trainer.epochs=2", "trainer.early_stopping_patience=0",
                                                   *extra]), tmp_path / name)
        with open(tmp_path / name / "history.csv") as f:
            val_loss[name] = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert all(p < s for p, s in zip(val_loss["pretrained"], val_loss["scratch"])), val_loss
    assert val_loss["pretrained"][1] <= 0.5 * val_loss["scratch"][1], val_loss
