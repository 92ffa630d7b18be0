"""Post-training weight quantization of a built model, with Keras's own quantizers (`model.quantize`).

    int8   every Dense, EinsumDense and Embedding (ReversibleEmbedding too): int8 weights, one float
           scale per output channel (absmax); inputs quantized on the fly
    int4   the same layers, 4-bit weights in groups of 128 inputs with a zero point, two per byte
    gptq   a causal LM's decoder blocks (their Dense layers) in 4 bits, each layer's rounding chosen
           against its inputs' Hessian on calibration tokens (Frantar et al. 2022); embeddings, lm_head
           (tied to the embedding) and layer norms stay float

Keras converts a layer only when its type is exactly Keras's (no subclass): ours are (`layers/`), so
every projection and embedding of our models is reached; `float_layers` names what stays in float
(layer norms, position tables, BatchNorm, Normalization).

Reloading: Keras makes the quantized variables when `quantize` is called, but our models make their
layers in `build()` from float configs, so a quantized `.keras` file does not load by itself. It
reloads as keras's docs say for subclassed models: build the float model, `quantize` the same layers
(`restore_structure`), then load the weights (saving.py). Keras 3.15 also does not save a GPTQ
layer's `kernel_zero` (its `save_own_variables` skips it; `load_own_variables` expects it):
`gptq_zero_points` reads them for saving.py to keep, and `restore_structure` puts them back.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfmodels.compat import drop_raw_kernel, nested_layers, unlocked

MODES = ("int8", "int4", "gptq")
GPTQ_GROUP_SIZE = 32  # inputs that share a scale and zero point (our widths are 64-256: Keras's 128 is one group)


def _leaves(model):
    return [layer for layer in nested_layers(model) if not nested_layers(layer)]


def quantized_layers(model) -> dict[str, str]:
    """{layer path: its quantized dtype policy} of every quantized layer."""
    return {layer.path: layer.dtype_policy.name for layer in _leaves(model) if layer.quantization_mode}


def float_layers(model) -> list[str]:
    """Paths of the layers with weights that stay in float."""
    return [layer.path for layer in _leaves(model) if layer.weights and not layer.quantization_mode]


def float_convolutions(model) -> list[str]:
    """Paths of the convolutions, which Keras's `quantize` leaves in float (it converts Dense, EinsumDense and
    Embedding layers only); a LiteRT int8 conversion quantizes them."""
    return [layer.path for layer in _leaves(model) if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D)
            and not layer.quantization_mode]


def gptq_structure(model) -> dict:
    """What Keras's GPTQ walks, block after block: the embedding (tokens + positions) then the decoder blocks."""
    def embed(token_ids):  # (B, T) -> (B, T, C), as GPT.call before the first block
        tokens = model.wte(token_ids)
        return tokens + model.wpe(tokens)

    return {"pre_block_layers": [embed], "sequential_blocks": list(model.blocks)}


def quantize_model(model, mode: str, calibration: np.ndarray | None = None, num_samples: int = 128):
    """Quantizes `model` (built, float weights) in place; returns it. `calibration` (N, T) token ids: GPTQ's."""
    if mode not in MODES:
        raise ValueError(f"quantization mode must be one of {', '.join(MODES)}, got {mode!r}")
    with warnings.catch_warnings():  # "Layer LayerNormalization does not have a `quantize` method": we list those
        warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
        warnings.filterwarnings("ignore", message="Invalid quantization mode")  # gptq passing embeddings by
        _quantize(model, mode, calibration, num_samples)
    return model


def _quantize(model, mode, calibration, num_samples):
    if mode == "gptq":
        if not hasattr(model, "blocks") or not hasattr(model, "wpe"):
            raise ValueError(f"gptq quantizes a causal LM's decoder blocks; a {type(model).__name__} has none")
        if calibration is None or not len(calibration):
            raise ValueError("gptq needs calibration token ids")
        config = keras.quantizers.GPTQConfig(
            list(np.asarray(calibration, np.int32)), tokenizer=_NoTokenizer(), weight_bits=4,
            num_samples=min(num_samples, len(calibration)), sequence_length=int(np.shape(calibration)[1]),
            group_size=GPTQ_GROUP_SIZE, quantization_layer_structure=gptq_structure(model))
        interactive = keras.config.is_interactive_logging_enabled()
        keras.config.disable_interactive_logging()  # GPTQ's progress bar, one line a block
        try:
            model.quantize("gptq", config=config)
        finally:
            if interactive:
                keras.config.enable_interactive_logging()
    else:
        model.quantize(mode)


class _NoTokenizer:
    """GPTQ's calibration here is token ids already; Keras asks for a tokenizer all the same."""

    def tokenize(self, text):  # pragma: no cover - never called with token ids
        raise TypeError("calibration data are token ids")


def gptq_zero_points(model) -> dict[str, np.ndarray]:
    """{layer path: kernel_zero} of the GPTQ layers (what Keras 3.15 does not save)."""
    return {layer.path: keras.ops.convert_to_numpy(layer.kernel_zero)
            for layer in _leaves(model) if layer.quantization_mode == "gptq"}


def restore_structure(model, layers: dict[str, str]) -> None:
    """Makes the quantized variables of `layers` ({path: policy}, `quantized_layers` of the saved model)
    on a freshly built float `model`, so that its weights can be loaded."""
    modes = {policy.split("_from_")[0].split("/")[0] for policy in layers.values()}
    if modes - {"gptq"}:
        (mode,) = modes  # int8 and int4 quantize every layer they reach, as `model.quantize` did
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            model.quantize(mode)
    else:
        config = keras.quantizers.GPTQConfig(None, None, weight_bits=4, group_size=GPTQ_GROUP_SIZE)
        for layer in _leaves(model):
            if layer.path in layers:
                layer.quantize("gptq", config=config)
                drop_raw_kernel(layer)  # a calibrated layer holds only its quantized kernel
                del layer.kernel_zero  # not in the file (see above); `put_gptq_zero_points` puts it back
    made = quantized_layers(model)
    if set(made) != set(layers):
        missing = sorted(set(layers) ^ set(made))
        raise ValueError(f"the model's quantized layers differ from the file's (e.g. '{missing[0]}')")


def put_gptq_zero_points(model, zeros: dict[str, np.ndarray]) -> None:
    for layer in _leaves(model):
        if layer.path in zeros:
            with unlocked(layer):
                layer.kernel_zero = layer.add_weight(name="kernel_zero", shape=zeros[layer.path].shape, dtype="uint8",
                                                     initializer="zeros", trainable=False)
            layer.kernel_zero.assign(zeros[layer.path])
