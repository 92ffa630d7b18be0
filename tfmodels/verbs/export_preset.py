"""`tfmodels export RUN --format keras-hub`: a run's model as a keras-hub preset folder.

    OUT/config.json, metadata.json, model.weights.h5     a `BertBackbone` (encoders) or `GPT2Backbone` (causal LMs)
    OUT/tokenizer.json, assets/tokenizer/...             a `BertTokenizer` with the run's vocabulary, or a
                                                         `GPT2Tokenizer` with its byte-level BPE vocabulary and merges

`keras_hub.models.BertBackbone.from_preset(OUT)` (or `BertTextClassifier.from_preset(OUT, num_classes=...)`,
or `init.preset=OUT` here), and `keras_hub.models.GPT2CausalLM.from_preset(OUT)` for a causal LM, load it
in a process that never imports tfmodels. An encoder comes from a masked-LM pretraining run (its
`encoder.keras`) or a text classifier (its encoder; the head stays behind) and must be wired as BERT;
a causal LM must be GPT-2's shape with a byte-level BPE tokenizer (a character vocabulary is no
GPT-2 tokenizer). The run's task makes the two objects (`Task.keras_hub_preset`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tfmodels.errors import ExportError
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.tasks import task_for


def export_keras_hub_preset(run_dir, out: str | os.PathLike) -> Path:
    paths = RunPaths(run_dir)
    require_finished(paths)
    target = Path(out)
    if target.exists():
        raise ExportError(f"export folder '{target}' exists already; exports never overwrite: choose another --out")
    backbone, tokenizer = task_for(read_run_config(paths)).keras_hub_preset(paths)
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
