"""`tfmodels export RUN --format keras-hub`: a run's model as a keras-hub preset folder.

    OUT/config.json, metadata.json, model.weights.h5     a `BertBackbone` (encoders) or `GPT2Backbone` (causal LMs)
    OUT/tokenizer.json, assets/tokenizer/...             a `BertTokenizer` with the run's vocabulary, or a
                                                         `GPT2Tokenizer` with its byte-level BPE vocabulary and merges

`keras_hub.models.BertBackbone.from_preset(OUT)` (or `BertTextClassifier.from_preset(OUT, num_classes=...)`,
or `init.preset=OUT` here), and `keras_hub.models.GPT2CausalLM.from_preset(OUT)` for a causal LM, load it
in a process that never imports tfmodels. An encoder comes from a masked-LM pretraining run (its
`encoder.keras`) or a text classifier (its encoder; the head stays behind) and must be wired as BERT
(tfmodels/models/keras_hub_bert.py); a causal LM must be GPT-2's shape (tfmodels/models/keras_hub_gpt2.py)
with a byte-level BPE tokenizer (a character vocabulary is no GPT-2 tokenizer).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tfmodels.data.lm_tokenizers import BytePairCodec, read_codec
from tfmodels.data.tokenizers import load_vocabulary
from tfmodels.errors import ExportError
from tfmodels.models import TransformerEncoder
from tfmodels.models.keras_hub_bert import to_bert_backbone
from tfmodels.models.keras_hub_gpt2 import to_gpt2_backbone
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model


def export_keras_hub_preset(run_dir, out: str | os.PathLike) -> Path:
    paths = RunPaths(run_dir)
    require_finished(paths)
    target = Path(out)
    if target.exists():
        raise ExportError(f"export folder '{target}' exists already; exports never overwrite: choose another --out")
    config = read_run_config(paths)
    if config.model.type == "gpt":
        backbone, tokenizer = _gpt2(paths, config)
    else:
        backbone, tokenizer = _bert(paths, config)
    staging = target.parent / f".tmp-{target.name}-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        backbone.save_to_preset(str(staging))
        tokenizer.save_to_preset(str(staging))
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _bert(paths: RunPaths, config):
    import keras_hub

    if config.model.type not in ("masked_lm", "transformer") or config.init.preset:
        raise ExportError(f"--format keras-hub writes our Transformer encoders as BertBackbone presets and causal LMs "
                          f"as GPT2Backbone presets; this run is model.type={config.model.type}"
                          f"{' from a preset already' if config.init.preset else ''}")
    encoder = load_keras_model(paths.encoder) if paths.encoder.is_file() else load_keras_model(paths.model).encoder
    if not isinstance(encoder, TransformerEncoder):  # pragma: no cover - both run kinds above hold one
        raise ExportError(f"run '{paths.root}' holds a {type(encoder).__name__}, not a TransformerEncoder")
    try:
        backbone = to_bert_backbone(encoder)
    except ValueError as e:
        raise ExportError(f"run '{paths.root}': {e}; pretrain with those settings to export a BERT preset") from None
    t = config.data.tokenizer
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=load_vocabulary(paths.vocabulary), lowercase=t.lowercase,
                                               strip_accents=t.strip_accents, split_on_cjk=t.split_on_cjk)
    return backbone, tokenizer


def _gpt2(paths: RunPaths, config):
    import keras_hub

    codec = read_codec(paths.root)
    if not isinstance(codec, BytePairCodec):
        raise ExportError(f"run '{paths.root}' reads {codec.kind if codec else 'no'} tokens; a GPT-2 preset needs "
                          "byte-level BPE (data.tokenizer.kind=bpe)")
    try:
        backbone = to_gpt2_backbone(load_keras_model(paths.model))
    except ValueError as e:
        raise ExportError(f"run '{paths.root}': {e}") from None
    return backbone, keras_hub.models.GPT2Tokenizer(vocabulary=codec.vocabulary, merges=codec.merges)
