"""Run configuration: small dataclasses, YAML in and out, dotted `--set key=value` overrides.

A config file is YAML whose sections mirror the dataclasses below. Every key is checked: an
unknown key names the nearest valid one, a value of the wrong type says what was expected.
Nothing is evaluated: YAML is read with `yaml.safe_load` and values are only type-checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import yaml

from tfmodels.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


@dataclass
class MLPConfig:
    """A dense classifier on flattened pixels."""

    hidden_units: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    dropout: float = 0.2
    batch_norm: bool = False
    # Input normalisation saved with the model: mean/variance adapted on the training set,
    # one pair for all pixels ("global") or one per pixel ("per_feature"), or none.
    normalization: Literal["global", "per_feature", "none"] = "global"


@dataclass
class EncoderConfig:
    """A Transformer encoder (also the width of the bag-of-words baseline's embeddings)."""

    num_layers: int = 2
    width: int = 128  # a multiple of num_heads; head size = width / num_heads
    num_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1
    activation: str = "gelu"  # a Keras activation, or gelu_approximate (BERT's tanh form)
    norm_first: bool = True  # pre-norm (True) or post-norm (False) blocks
    position: Literal["learned", "sinusoidal"] = "learned"
    layer_norm_epsilon: float = 1e-5  # BERT: 1e-12
    initializer_range: Optional[float] = None  # None: Keras's initializers; BERT: 0.02 (a truncated normal)


@dataclass
class HeadConfig:
    """The classification head on an encoder's sequence output."""

    pooling: Literal["first", "mean"] = "first"  # the [CLS] vector, or the mean over real tokens
    dropout: float = 0.1


@dataclass
class MaskedLMConfig:
    """Masked-language-model pretraining (model.type=masked_lm): which tokens are hidden, and how."""

    mask_rate: float = 0.15  # fraction of (selectable) tokens chosen for prediction
    mask_token_rate: float = 0.8  # of those: replaced by [MASK]
    random_token_rate: float = 0.1  # replaced by a random token; the rest stay as they are
    tie_weights: bool = True  # the output projection is the token embedding matrix


@dataclass
class ModelConfig:
    # mlp: images; transformer and bag_of_words (the baseline): text classifiers;
    # masked_lm: pretraining a Transformer encoder on unlabelled text.
    type: Literal["mlp", "transformer", "bag_of_words", "masked_lm"] = "mlp"
    # None: inferred from the training labels (largest label + 1).
    num_classes: Optional[int] = None
    mlp: MLPConfig = field(default_factory=MLPConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    masked_lm: MaskedLMConfig = field(default_factory=MaskedLMConfig)


@dataclass
class TableOptions:
    """How to read tables of pixels (`csv:` and `npz:` specs); a spec's `?key=value` wins."""

    # Column of the label: an index (negative counts from the end) or a header name.
    label_column: Union[int, str] = -1
    # True: the first line is a header; False: it is data; None: a header if it is not numeric.
    header: Optional[bool] = None
    delimiter: str = ","
    # Shape of one image, e.g. [28, 28]; None: a square from the number of pixel columns.
    image_shape: Optional[list[int]] = None
    # Largest possible pixel value (16 for UCI digits, 255 for MNIST); None: 16 or 255 from the data.
    value_max: Optional[float] = None


@dataclass
class TextTableOptions:
    """How to read labelled text tables (`csv:` and `tsv:` specs of text); a spec's `?key=value` wins."""

    text_column: Union[int, str] = -1  # index (negative counts from the end) or header name
    label_column: Union[int, str] = 0
    header: Optional[bool] = None  # None: a header if the first row's label is not an integer
    delimiter: Optional[str] = None  # None: a tab for tsv:, a comma for csv:


@dataclass
class TokenizerConfig:
    """Text to token ids, learnt from the training text and saved with the run."""

    kind: Literal["wordpiece", "character"] = "wordpiece"
    vocabulary_size: int = 8000
    sequence_length: int = 128  # every example is padded or truncated to this ([CLS] included)
    lowercase: bool = True
    strip_accents: bool = True
    split_on_cjk: bool = True  # Chinese, Japanese and Korean characters become tokens of their own
    vocabulary_sample: int = 50_000  # at most this many training texts (a seeded sample) teach the vocabulary


@dataclass
class AugmentConfig:
    """Random image transforms on training batches (Keras preprocessing layers), never on eval."""

    enabled: bool = False
    rotation: float = 0.03  # fraction of a full turn, as keras.layers.RandomRotation
    shift: float = 0.08  # fraction of height and width, as keras.layers.RandomTranslation
    zoom: float = 0.08  # as keras.layers.RandomZoom


@dataclass
class DataConfig:
    # Data specs, each with optional `?split=...&key=value` options (see tfmodels/data/specs.py):
    # images: digits | csv:PATH | idx:PREFIX | npz:PATH | tfds:NAME
    # text:   synthetic | csv:PATH | tsv:PATH | dir:PATH | text:PATH | tfds:NAME
    # A list of text specs is read as one set (e.g. several corpora for pretraining).
    train: Union[str, list[str]] = "digits"
    validation: Optional[str] = None  # None: carved from train (validation_fraction)
    test: Optional[str] = None  # None: no test set
    validation_fraction: float = 0.1
    table: TableOptions = field(default_factory=TableOptions)
    text: TextTableOptions = field(default_factory=TextTableOptions)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cache: bool = True  # evaluation sets; training sets are held in memory and drawn in a seeded order


@dataclass
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 64  # per replica; the pipeline batches with batch_size * replicas
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = 1e-3
    lr_scaling: Literal["none", "linear"] = "none"  # how the rate follows the replica count
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    warmup_fraction: float = 0.0  # or: warm up for this fraction of all training steps
    weight_decay: float = 0.0  # decoupled (AdamW); never on biases, norms and embeddings
    clipnorm: Optional[float] = None  # clip the global norm of the gradients
    early_stopping_patience: int = 8  # epochs without improvement; 0 turns it off
    # Fine-tuning from init.from_run: train everything; only the head (encoder frozen); the head,
    # then one more block every unfreeze_every epochs from the top, the embeddings last (gradual);
    # or LoRA adapters (rank lora_rank) on the attention and feed-forward projections plus the head.
    finetune: Literal["full", "frozen", "gradual", "lora"] = "full"
    unfreeze_every: int = 1
    lora_rank: int = 8
    monitor: str = "val_loss"
    steps_per_execution: int = 1


@dataclass
class RuntimeConfig:
    seed: int = 1234
    # auto: a TPU when one is configured or attached, else mirrored over several GPUs, else default.
    # multi_worker reads the cluster from TF_CONFIG (`tfmodels launch` sets it for local workers).
    strategy: Literal["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    # Split the CPU into N logical devices before TensorFlow starts (0: leave it), so that
    # `mirrored` has N replicas on a machine without GPUs.
    num_cpu_devices: int = 0
    # Seconds to wait for a configured TPU (or the multi-worker cluster's first contact) to answer.
    connect_timeout: float = 120.0
    # auto: chosen from the hardware (tfmodels/hardware.py): mixed_bfloat16 on a TPU, a recent GPU or
    # a CPU with fast bfloat16 (AMX, AVX512-BF16), mixed_float16 on an older GPU, else float32.
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "auto"
    # XLA: on (the whole training step; GPUs and TPUs), fusible (element-wise ops only, products
    # stay on oneDNN; CPUs with fast bfloat16), off, or auto (from the hardware, as above).
    xla: Literal["auto", "off", "fusible", "on"] = "auto"
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism()


@dataclass
class LoggingConfig:
    histogram_freq: int = 1  # weight histograms every N epochs; 0 turns them off
    verbose: int = 2  # Keras fit verbosity: 0 silent, 1 progress bar, 2 a line an epoch
    profile: bool = False  # TensorFlow's profiler on training steps 2-4 (TensorBoard's Profile tab)


@dataclass
class InitConfig:
    # A finished run folder whose model weights this run starts from (shapes must match).
    from_run: Optional[str] = None


@dataclass
class Config:
    name: str = "mlp_digits"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    init: InitConfig = field(default_factory=InitConfig)


def demo_config() -> Config:
    """The built-in default run of `tfmodels demo` (the same as configs/mlp_digits.yaml)."""
    return Config(data=DataConfig(train="digits", validation="digits", test="digits"),
                  runtime=RuntimeConfig(precision="float32"))  # a small MLP: no faster in bfloat16 (docs/benchmarks.md)


def demo_text_config() -> Config:
    """The demo's Transformer on the built-in synthetic reviews (the same as configs/encoder_synthetic.yaml)."""
    return Config(
        name="encoder_synthetic",
        model=ModelConfig(type="transformer",
                          encoder=EncoderConfig(num_layers=2, width=64, num_heads=4, ffn_dim=128, dropout=0.0),
                          head=HeadConfig(pooling="first", dropout=0.0)),
        data=DataConfig(train="synthetic", validation="synthetic", test="synthetic",
                        tokenizer=TokenizerConfig(vocabulary_size=1000, sequence_length=24)),
        trainer=TrainerConfig(epochs=6, batch_size=64, optimizer="adamw", learning_rate=1e-3, weight_decay=0.01,
                              schedule="cosine", warmup_steps=200, early_stopping_patience=2),
        # Not auto: at width 64 the products are too small for bfloat16 to pay (docs/benchmarks.md).
        runtime=RuntimeConfig(precision="float32"),
    )


def baseline_overrides() -> list[str]:
    """What turns a text config into its bag-of-words baseline (same tokens, data and budget)."""
    return ["model.type=bag_of_words", "model.head.pooling=mean"]


# ---------------------------------------------------------------------------------------------
# Reading, checking, overriding, writing
# ---------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(c) for c in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _check(value: Any, tp: Any, where: str) -> Any:
    """Returns `value` converted to `tp`, or raises ConfigError naming `where`."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _check(value, option, where)
            except ConfigError:
                continue
    elif origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item_type,) = typing.get_args(tp)
            return [_check(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _is_float_text(value):  # YAML 1.1 reads `1e-3` as a string
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know is a bug here
        raise TypeError(f"unsupported config field type {tp!r} at {where}")
    raise ConfigError(f"config key '{where}': expected {_type_name(tp)}, got {value!r}")


def _unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    full = f"{where}.{key}" if where else key
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key '{full}': {hint}")


def _from_dict(cls: type, data: Any, where: str = "") -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{where or '<top>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(str(key), names, where)
        kwargs[key] = _check(value, hints[key], f"{where}.{key}" if where else key)
    return cls(**kwargs)


def config_from_dict(data: Any) -> Config:
    return _from_dict(Config, data)


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def load_config(path: str | os.PathLike | None) -> Config:
    """Reads a YAML config file; None gives the defaults."""
    if path is None:
        return Config()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file '{path}' cannot be read: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file '{path}' is not valid YAML: {_one_line(e)}") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def save_config(config: Config, path: str | os.PathLike) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dump_config(config))


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Returns a copy of `config` with each `a.b.c=value` applied (value parsed as YAML)."""
    data = config_to_dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. trainer.epochs=5)")
        parts = key.split(".")
        node, cls, where = data, Config, ""
        for i, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                raise _unknown_key(part, names, where)
            where = f"{where}.{part}" if where else part
            tp = typing.get_type_hints(cls)[part]
            if i == len(parts) - 1:
                node[part] = _parse_override_value(raw, tp, where)
            elif dataclasses.is_dataclass(tp):
                node, cls = node[part], tp
            else:
                raise ConfigError(f"config key '{where}' is a value, not a section: cannot set '{key}'")
    return config_from_dict(data)


def _parse_override_value(raw: str, tp: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        raise ConfigError(f"config key '{where}' is a section: set one of its keys, e.g. {where}.<key>=...")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        if raw.strip().startswith("["):
            raise ConfigError(f"config key '{where}': cannot read the list {raw!r}; quote each item, "
                              f"e.g. {where}='[\"text:a.txt\", \"text:b.txt\"]'") from None
        value = raw
    # A string field takes the text as written (`name=2024` is the string "2024").
    if _accepts_str(tp) and not isinstance(value, str) and value is not None:
        if not _accepts(value, tp):
            value = raw
    return value


def _accepts_str(tp: Any) -> bool:
    if tp is str:
        return True
    if typing.get_origin(tp) in (Union, types.UnionType):
        return any(_accepts_str(a) for a in typing.get_args(tp))
    return False


def _accepts(value: Any, tp: Any) -> bool:
    try:
        _check(value, tp, "")
        return True
    except ConfigError:
        return False


def _is_float_text(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
