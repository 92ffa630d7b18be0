"""`tfmodels export RUN --format litert|onnx`: a run's model for runtimes without TensorFlow.

    OUT/model.tflite | model.onnx    the model: what the model itself takes -> float32 logits
    OUT/tfmodels_export.json         format, conversion, input (name, dtype, shape), outputs, class names, and
                                     the largest difference from the Keras model on validation inputs
    OUT/vocabulary.txt | characters.json | bpe.json    a text model's tokenizer files, beside it

Inputs: an image model takes float32 pixels in [0, 1] `(B, *shape)`; a text model takes int32 token ids
`(B, T)` of its fixed length (a classifier: the run's sequence length, packed as training packed them;
a causal LM: its block, right-padded: a position's logits never see later positions). The tokenizer
stays outside (its vocabulary is shipped beside): LiteRT's built-in ops have no WordPiece or BPE, and
Select TF ops would bring TensorFlow's kernels back (the Flex delegate; tensorflow-text's ops are not
among them), which is what these formats are chosen to leave behind. Only built-in ops are used.

A mixed-precision run is converted as its float32 twin (the same weights; neither format has bfloat16
kernels). LiteRT (TensorFlow's TFLite converter, through Keras's `model.export(format="litert")`) converts as
`--quantize` says: float (none), float16 (weights), dynamic (int8 weights, float activations), or int8
(weights and activations, calibrated on a representative set of training inputs; ops without an int8
kernel stay float). ONNX: the graph with its variables frozen, converted by tf2onnx (Keras's own ONNX
export leaves a Normalization layer's constants as unbound inputs, and tf2onnx has no Erfc, the exact
GELU's: it is written as 1 - Erf here). Both are run once after conversion (ai-edge-litert's interpreter,
onnxruntime) against the Keras model: the difference is recorded and printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfmodels.errors import ConfigError, ExportError
from tfmodels.files import atomic_write_json, make_staging_dir, read_json
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model, quantization_record
from tfmodels.tasks import task_for

LITERT_QUANTIZE = ("float", "float16", "dynamic", "int8")
REPRESENTATIVE_EXAMPLES = 200
CHECK_EXAMPLES = 64
EXTRA = 'pip install -e ".[deploy]"'


def require_deploy_extra(format: str) -> None:
    """One line naming the extra when a package of `--format litert|onnx` is missing."""
    needed = {"litert": ["ai_edge_litert"], "onnx": ["tf2onnx", "onnxruntime", "onnx"]}[format]
    for module in needed:
        try:
            __import__(module)
        except ImportError:
            raise ExportError(f"--format {format} needs the package '{module.replace('_', '-')}', which is not "
                              f"installed: install the deploy extra with {EXTRA}") from None


def input_spec(info: dict) -> tf.TensorSpec:
    """What the model takes: pixels (B, *shape) or token ids (B, T) of the run's fixed length."""
    if info.get("task") == "image_classification":
        return tf.TensorSpec((None, *info["input"]["shape"]), tf.float32, name=info["input"]["name"])
    ids = info["token_ids"]
    return tf.TensorSpec((None, ids.get("sequence_length") or ids["block_size"]), tf.int32, name="token_ids")


def export_portable(run_dir, format: str, out: str | os.PathLike | None = None, quantize: str | None = None,
                    representative: str | None = None, savedmodels_dir: str | os.PathLike = "savedmodels",
                    trust_code: bool = False) -> tuple[Path, dict]:
    """Writes OUT (see above); returns (OUT, its tfmodels_export.json)."""
    if format not in ("litert", "onnx"):
        raise ConfigError(f"--format {format!r}: this exporter writes litert or onnx")
    if format == "onnx" and quantize not in (None, "float"):
        raise ConfigError("--quantize is LiteRT's conversion; for a quantized ONNX model export a quantized run "
                          "(`tfmodels quantize RUN --mode int8`, then export that run)")
    quantize = quantize or "float"
    if quantize not in LITERT_QUANTIZE:
        raise ConfigError(f"--quantize {quantize!r} is not one of {', '.join(LITERT_QUANTIZE)}")
    if representative and quantize != "int8":
        raise ConfigError("--representative calibrates a full-integer conversion: give it with --quantize int8")
    require_deploy_extra(format)
    paths = RunPaths(run_dir)
    require_finished(paths)
    from tfmodels.verbs.export import next_version_dir

    target = Path(out) if out else next_version_dir(Path(savedmodels_dir) / f"{paths.name}-{format}")
    if target.exists():
        raise ExportError(f"export folder '{target}' exists already; exports never overwrite: choose another --out")
    config, info = read_run_config(paths), read_json(paths.data_info)
    if info.get("task") not in ("image_classification", "text_classification", "token_classification", "causal_lm"):
        raise ExportError(f"'{paths.root}' is a {info.get('task')} run; --format {format} exports classifiers, "
                          "token classifiers and causal LMs (export a pretraining run's encoder as a SavedModel)")
    if config.data.text.pairs or config.init.preset:
        raise ExportError(f"--format {format} takes one token-id input from our own tokenizer; a sentence-pair or "
                          "preset run exports as a SavedModel")
    task, spec = task_for(config), input_spec(info)
    model = load_keras_model(paths.model, trust_code=trust_code)
    compared_with = f"the Keras model ({model.compute_dtype})"
    if model.compute_dtype != "float32" and not quantization_record(paths.model):
        model = float32_copy(paths.model, trust_code)  # LiteRT's built-ins and ONNX's have no bfloat16 kernels
        compared_with = "the Keras model's float32 twin (the run computes in " + compared_with.split("(")[1]
    check = task.model_inputs(paths, info, split="validation", limit=CHECK_EXAMPLES)
    calibration = None
    if quantize == "int8":
        try:
            calibration = task.model_inputs(paths, info, data_spec=representative, split="train",
                                       limit=REPRESENTATIVE_EXAMPLES)
        except Exception as e:  # any loader's complaint, said as what it is about
            raise ExportError(f"representative set '{representative or 'the run’s training data'}': {e}") from None
        if calibration.shape[1:] != tuple(spec.shape[1:]) or calibration.dtype != spec.dtype.as_numpy_dtype:
            raise ExportError(f"representative set '{representative}' gives inputs {calibration.dtype}"
                              f"{list(calibration.shape[1:])}, but the model takes {spec.dtype.name}{spec.shape[1:]}")

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target, f".tmp-{target.name}-")
    try:
        file = staging / ("model.tflite" if format == "litert" else "model.onnx")
        if format == "litert":
            write_litert(model, spec, file, quantize, calibration)
            runner = LiteRTModel(file)
        else:
            write_onnx(model, spec, file)
            runner = OnnxModel(file)
        reference = np.asarray(model.predict(check, batch_size=CHECK_EXAMPLES, verbose=0), np.float32)
        difference = float(np.max(np.abs(runner(check) - reference)))
        for asset in paths.assets:
            if asset.is_file():
                shutil.copy2(asset, staging / asset.name)
        record = quantization_record(paths.model)
        description = {
            "run": str(paths.root.resolve()), "format": format, "file": file.name,
            "conversion": quantize if format == "litert" else "float",
            "keras_quantization": record["mode"] if record else None,
            "input": {"name": spec.name, "dtype": spec.dtype.name, "shape": ["batch", *spec.shape[1:]],
                      **({"range": [0.0, 1.0]} if spec.dtype == tf.float32 else {})},
            "tokenizer": next((a.name for a in paths.assets if a.is_file()), None),
            "outputs": {"logits": ["batch", *(["time"] if reference.ndim == 3 else []), int(reference.shape[-1])]},
            "class_names": info.get("class_names"),
            "bytes": file.stat().st_size,
            "max_abs_difference_from_keras": difference, "checked_on": f"{len(check)} validation inputs",
            "compared_with": compared_with,
        }
        atomic_write_json(staging / "tfmodels_export.json", description)
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target, description


def float32_copy(path: Path, trust_code: bool = False):
    """The model of a mixed-precision run (float32 variables, bfloat16/float16 compute) rebuilt to compute in
    float32 with the same weights: what LiteRT and ONNX then convert (`--quantize float16` halves it again)."""
    import json
    import zipfile

    import keras

    def to_float32(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy" and str(node.get("config", {}).get("name", "")).startswith("mixed"):
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {key: to_float32(value) for key, value in node.items()}
        return [to_float32(value) for value in node] if isinstance(node, list) else node

    with zipfile.ZipFile(path) as archive:
        config = to_float32(json.loads(archive.read("config.json")))
    model = keras.saving.deserialize_keras_object(config, safe_mode=not trust_code)
    model.load_weights(path)
    return model


def _logits_fn(model):
    return lambda inputs: tf.cast(model(inputs, training=False), tf.float32)


def write_litert(model, spec: tf.TensorSpec, file: Path, quantize: str, calibration: np.ndarray | None) -> None:
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    options = {"target_spec": {"supported_ops": [builtins]}}
    if quantize != "float":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    if quantize == "int8":
        options["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, builtins]
        options["representative_dataset"] = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    try:
        model.export(str(file), format="litert", input_signature=[spec], verbose=False, **options)
    except Exception as e:  # the converter's own message is long; its first line says what failed
        raise ExportError(f"the LiteRT converter failed: {str(e).strip().splitlines()[0][:300]}") from None


def _erfc_as_one_minus_erf(ctx, node, name, args):
    """tf2onnx handler: erfc(x) = 1 - erf(x) (TensorFlow's exact GELU is written with Erfc)."""
    from tf2onnx import utils

    node.type = "Erf"
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
    one = ctx.make_const(utils.make_name("one"), np.array(1, dtype=dtype))
    subtract = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(f"{node.name}_erfc"))
    ctx.replace_inputs(subtract, [one.output[0], node.output[0]])
    return node


def write_onnx(model, spec: tf.TensorSpec, file: Path, opset: int = 17) -> None:
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(_logits_fn(model)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(function)
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
                                   output_names=[t.name for t in frozen.outputs], opset=opset,
                                   custom_op_handlers={"Erfc": (_erfc_as_one_minus_erf, [])}, output_path=str(file))


class LiteRTModel:
    """A `.tflite` file as a function of a batch (any batch size: the interpreter is resized to it)."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path))
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = None

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs, self.input["dtype"])
        if inputs.shape[0] != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], inputs.shape)
            self.interpreter.allocate_tensors()
            self.batch = inputs.shape[0]
        self.interpreter.set_tensor(self.input["index"], inputs)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).astype(np.float32)


class OnnxModel:
    """A `.onnx` file as a function of a batch, run by onnxruntime on the CPU."""

    def __init__(self, path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        dtype = np.float32 if "float" in self.input.type else np.int32
        return self.session.run(None, {self.input.name: np.asarray(inputs, dtype)})[0].astype(np.float32)
