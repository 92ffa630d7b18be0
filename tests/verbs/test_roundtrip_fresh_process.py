"""Every kind of model the project trains comes back from `.keras` (with `keras.models.load_model` after
`import tfmodels` alone) and from its SavedModel, in a fresh process, with the outputs it had when
training ended (1e-5): float32 and mixed precision, the
Transformer and the bag of words, LoRA fine-tuning (merged on save), a run under `mirrored`.
The SavedModel is compared with the trained model run as a graph (`tf.function`) with the batch size
unknown, as the SavedModel runs: in bfloat16/float16, graph and eager execution, and graphs traced with
and without the batch size, fuse ops differently and differ by ~1e-3.

One process trains and exports every case and records the trained model's logits on fixed inputs;
another, which never saw those models, loads them and computes the same outputs.
"""

import json

import numpy as np
import pytest
from helpers import run_python_alone

from tfmodels.tasks.registry import baseline_overrides

pytestmark = pytest.mark.slow  # trains eight models in a fresh process (about two minutes)

QUICK = ["logging.verbose=0", "logging.histogram_freq=0", "trainer.early_stopping_patience=0"]
TEXT = [*QUICK, "data.train=synthetic?size=800", "trainer.epochs=1", "trainer.warmup_steps=5"]
PRETRAIN = ["name=mlm_synthetic", "model.type=masked_lm", "data.validation=null", "data.test=null",
            "data.train=synthetic?size=800", "trainer.epochs=1", "trainer.warmup_steps=2", *QUICK[:2]]
CASES = {
    "mlp": ("image", [*QUICK, "trainer.epochs=2", "runtime.precision=float32"]),
    "mlp_bfloat16": ("image", [*QUICK, "trainer.epochs=2", "runtime.precision=mixed_bfloat16"]),
    "mlp_mirrored": ("image", [*QUICK, "trainer.epochs=2", "runtime.strategy=mirrored", "trainer.batch_size=32",
                               "runtime.precision=float32"]),
    "transformer": ("text", TEXT),  # float32: the demo's text config says so
    "transformer_bfloat16": ("text", [*TEXT, "runtime.precision=mixed_bfloat16"]),
    "transformer_float16": ("text", [*TEXT, "runtime.precision=mixed_float16"]),
    "bag_of_words": ("text", [*TEXT, *baseline_overrides()]),
    "lora": ("text", [*TEXT, "trainer.finetune=lora", "trainer.lora_rank=4", "init.from_run={pretrained}"]),
}
SENTENCES = ["the film is not bad but the ending is dull", "a wonderful cast", "not good", "dull and slow"]

TRAIN = """
import json, sys
import numpy as np
import tensorflow as tf
from tfmodels.config import apply_overrides, demo_config, demo_text_config
from tfmodels.run_folder import RunPaths
from tfmodels.tasks import task_for
from tfmodels.verbs.export import export_run
from tfmodels.verbs.train import train

work, cases, pretrain, sentences = json.loads(sys.argv[1])
train(apply_overrides(demo_text_config(), [*pretrain, "runtime.num_cpu_devices=2"]), f"{work}/pretrained")
for name, (kind, overrides) in cases.items():
    overrides = [o.replace("{pretrained}", f"{work}/pretrained") for o in overrides]
    config = apply_overrides(demo_config() if kind == "image" else demo_text_config(),
                             [*overrides, "runtime.num_cpu_devices=2"])
    result = train(config, f"{work}/{name}")
    export_run(f"{work}/{name}", out=f"{work}/{name}-export")
    if kind == "image":
        raw = inputs = np.random.default_rng(0).random((5, 8, 8)).astype("float32")
    else:
        task = task_for(config)
        data = task.prepare(task.load(), RunPaths(f"{work}/{name}"))
        raw, inputs = np.array(sentences), data.preprocessor(tf.constant(sentences)).numpy()
    logits = np.asarray(result.model(inputs, training=False), dtype="float32")
    # Compiled into a graph as the SavedModel runs it, with the batch size unknown: in bfloat16 the graph
    # optimizer's fusions (a product with its bias, GELU or residual) round differently from eager
    # execution, and it fuses more where every shape is known.
    signature = [tf.TensorSpec((None, *inputs.shape[1:]), inputs.dtype)]
    graph = tf.function(lambda x: result.model(x, training=False), input_signature=signature)
    graph_logits = np.asarray(graph(inputs), dtype="float32")
    np.savez(f"{work}/{name}-trained.npz", raw=raw, inputs=inputs, logits=logits, graph_logits=graph_logits)
print("TRAINED")
"""

LOAD = """
import json, sys
import keras
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)
import tfmodels  # registers every class a tfmodels .keras file names: nothing else of tfmodels is used

work, names = json.loads(sys.argv[1])
pretrained = keras.models.load_model(f"{work}/pretrained/model.keras")  # the masked-LM model too
assert type(pretrained).__name__ == "MaskedLMModel", type(pretrained)
for name in names:
    trained = np.load(f"{work}/{name}-trained.npz")
    model = keras.models.load_model(f"{work}/{name}/model.keras")
    logits = np.asarray(model(trained["inputs"], training=False), dtype="float32")
    loaded = tf.saved_model.load(f"{work}/{name}-export")  # keep a reference while calling it
    serve = loaded.signatures["serving_default"]
    (argument,) = serve.structured_input_signature[1]
    probabilities = serve(**{argument: tf.constant(trained["raw"])})["probabilities"].numpy()
    np.savez(f"{work}/{name}-loaded.npz", logits=logits, probabilities=probabilities)
print("LOADED")
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("roundtrip")
    trained = run_python_alone(TRAIN, json.dumps([str(work), CASES, PRETRAIN, SENTENCES]))
    assert "TRAINED" in trained.stdout, trained.stdout[-2000:] + trained.stderr[-4000:]
    loaded = run_python_alone(LOAD, json.dumps([str(work), list(CASES)]))
    assert "LOADED" in loaded.stdout, loaded.stdout[-2000:] + loaded.stderr[-4000:]
    return work


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", list(CASES))
def test_keras_file_and_savedmodel_give_the_trained_outputs_in_a_fresh_process(work, name):
    trained, loaded = np.load(work / f"{name}-trained.npz"), np.load(work / f"{name}-loaded.npz")
    assert trained["logits"].shape[0] == len(trained["raw"]) > 0
    assert np.isfinite(trained["logits"]).all() and np.ptp(trained["logits"]) > 0  # a trained model, not zeros
    np.testing.assert_allclose(loaded["logits"], trained["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded["probabilities"], _softmax(trained["graph_logits"]), rtol=1e-5, atol=1e-5)
    info = json.loads((work / name / "data.json").read_text())
    if info["precision"] == "float32":  # in float32, graph and eager agree too
        np.testing.assert_allclose(trained["graph_logits"], trained["logits"], rtol=1e-5, atol=1e-5)
    if name == "mlp_mirrored":
        assert info["strategy"] == "mirrored" and info["replicas"] == 2
