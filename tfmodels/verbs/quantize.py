"""`tfmodels quantize RUN --mode int8|int4|gptq`: a finished run's model with quantized weights, as a run
folder of its own that `evaluate`, `export`, `predict` and `generate` take like any run.

    RUN-<mode>/model.keras     the quantized model; inside the archive, the record of which layers are
                               quantized (saving.py), so it reloads wherever it is copied
    RUN-<mode>/metrics.json    "quantization": mode, source run, layers quantized and kept in float, sizes;
                               "float_model": the source run's metrics
    RUN-<mode>/...             the source's config, data.json and tokenizer files, copied

The source is never changed, except that its validation split is evaluated beside the quantized
model's (both written to their metrics.json), so that the two numbers printed are measured alike.
GPTQ is calibrated on token sequences of the run's training text.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tfmodels.errors import ConfigError, RunDirError
from tfmodels.files import atomic_write_json, make_staging_dir, read_json
from tfmodels.run_folder import FINISHED, RunPaths, read_run_config, require_finished
from tfmodels.saving import load_keras_model, quantization_record, save_quantized_model
from tfmodels.tasks import task_for
from tfmodels.transforms.quantization import MODES, float_convolutions, float_layers, quantize_model, quantized_layers

GPTQ_CALIBRATION_SEQUENCES = 128
NOT_COPIED = ("checkpoints", "logs", "model.keras", "encoder.keras", "metrics.json", "adapters.npz")


def quantize_run(run_dir, mode: str, out: str | os.PathLike | None = None, evaluate: bool = True,
                 log=lambda *_: None) -> dict:
    paths = RunPaths(run_dir)
    metrics = require_finished(paths)
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r} is not a quantization mode; choose one of {', '.join(MODES)}")
    record = quantization_record(paths.model)
    if record:
        raise RunDirError(f"'{paths.root}' is quantized already ({record['mode']}, from {record['from']}); "
                          "quantize the float run it came from instead")
    task, info = task_for(read_run_config(paths)), read_json(paths.data_info)
    target = Path(out) if out else paths.root.with_name(f"{paths.name}-{mode}")
    if target.exists():
        raise RunDirError(f"'{target}' exists already; quantize never overwrites: choose another --out")
    calibration = None
    if mode == "gptq":
        calibration = task.gptq_calibration(paths, info, GPTQ_CALIBRATION_SEQUENCES)  # refused unless a causal LM

    model = load_keras_model(paths.model)
    float_size = _saved_size(model)
    if mode == "gptq":
        log(f"GPTQ: calibrating on {len(calibration)} sequences of {calibration.shape[1]} training tokens")
    quantize_model(model, mode, calibration)
    summary = {"mode": mode, "from": str(paths.root.resolve()), "quantized_layers": len(quantized_layers(model)),
               "float_layers": float_layers(model), "float_convolutions": float_convolutions(model),
               "float_bytes": float_size}

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target, f".tmp-{target.name}-")
    try:
        for item in paths.root.iterdir():
            if item.name in NOT_COPIED or item.name.startswith("confusion_matrix"):
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, staging / item.name)
        save_quantized_model(model, staging / "model.keras", {"mode": mode, "from": summary["from"]})
        summary["bytes"] = (staging / "model.keras").stat().st_size
        atomic_write_json(staging / "metrics.json", {
            "status": FINISHED, "quantization": summary,
            "float_model": {k: metrics[k] for k in ("validation", "test", "evaluation") if k in metrics}})
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    summary["out"] = str(target)
    if evaluate:
        from tfmodels.verbs.evaluate import evaluate_run

        summary["float_validation"] = evaluate_run(paths.root, split="validation")[1]
        summary["validation"] = evaluate_run(target, split="validation")[1]
    return summary


def _saved_size(model) -> int:
    """Bytes of `model` saved alone (no optimizer state: the run's own model.keras also holds Adam's moments)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "float.keras")
        return (Path(folder) / "float.keras").stat().st_size


def format_summary(summary: dict) -> str:
    lines = [f"{summary['mode']}: {summary['quantized_layers']} layers quantized; "
             f"{len(summary['float_layers'])} stay in float ({', '.join(summary['float_layers'][:6])}"
             f"{', ...' if len(summary['float_layers']) > 6 else ''})",
             f"size: {summary['bytes'] / 1024:.1f} KiB, float model alone {summary['float_bytes'] / 1024:.1f} KiB "
             f"({summary['bytes'] / summary['float_bytes']:.1%})"]
    if summary.get("float_convolutions"):
        lines.append(f"{len(summary['float_convolutions'])} convolutions stay float (Keras's quantize converts Dense, "
                     "EinsumDense and Embedding layers); `tfmodels export RUN --format litert --quantize int8` makes "
                     "them int8")
    if "validation" in summary:
        key = next(k for k in ("loss", "accuracy", "f1", "bleu") if k in summary["validation"])
        lines.append(f"validation {key}: float {summary['float_validation'][key]:.4f}, "
                     f"{summary['mode']} {summary['validation'][key]:.4f}")
    lines.append(f"quantized run: {summary['out']}")
    return "\n".join(lines)
