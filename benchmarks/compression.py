"""Smaller and faster to serve, measured: each format's size on disk, latency at batch 1 and 64 on this
machine, and quality, for the digits MLP, the SST-2 classifier and the character GPT.

    python -m benchmarks.compression [--work DIR] [--only mlp,sst2,gpt] [--repeats 30]

Each model is trained once from its shipped config (configs/mlp_digits.yaml, configs/encoder_sst2.yaml,
configs/gpt_shakespeare_char.yaml; a finished run in --work is reused), then turned into every format
with the command line's own functions: Keras float32 (the model saved alone, no optimizer state),
`tfmodels quantize --mode int8 | int4 | gptq` (GPTQ: the GPT only), `tfmodels export --format litert`
(float, float16, dynamic, int8) and `--format onnx`. Quality: test accuracy (digits: its 270 held-out
images; SST-2: dev.tsv, 872), or the GPT's validation loss per character over the whole validation text.
Latency: the median of --repeats calls on one fixed batch after two warm-up calls (Keras: the model in a
`tf.function`, as a SavedModel runs it; LiteRT: ai-edge-litert's interpreter; ONNX: onnxruntime on the CPU),
the process alone on the machine. Writes the "compression" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import trained_run

MODELS = {
    "mlp": ("digits MLP", "mlp_digits.yaml", []),
    "sst2": ("SST-2 Transformer", "encoder_sst2.yaml", []),
    "gpt": ("character GPT", "gpt_shakespeare_char.yaml", []),
}


def trained(work: Path, key: str) -> Path:
    return trained_run(MODELS[key][1], MODELS[key][2], work / key)


def timed(fn, x, repeats: int) -> float:
    """Median milliseconds of fn(x) over `repeats` calls, after two warm-up calls."""
    fn(x), fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def quality_fn(run: Path, kind: str):
    """A function (predict: inputs -> logits) -> quality: test accuracy, or validation loss per token."""
    import numpy as np

    from tfmodels.files import read_json
    from tfmodels.run_folder import RunPaths, read_run_config
    from tfmodels.tasks import task_for

    paths = RunPaths(run)
    task, info = task_for(read_run_config(paths)), read_json(paths.data_info)
    if kind == "gpt":
        dataset = task.evaluation_dataset(paths, info, None, "validation")[0]
        batches = list(dataset.as_numpy_iterator())

        def loss(predict):
            total, count = 0.0, 0.0
            for x, y, w in batches:
                logits = predict(x).astype(np.float64)
                logits -= logits.max(-1, keepdims=True)
                logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
                nll = -np.take_along_axis(logp, y[..., None].astype(np.int64), -1)[..., 0]
                total, count = total + float((nll * w).sum()), count + float(w.sum())
            return total / count
        return loss, batches[0][0]
    inputs, labels, _, _ = task.evaluation_data(paths, info, None, "test")

    def accuracy(predict):
        logits = np.concatenate([predict(inputs[i:i + 256]) for i in range(0, len(inputs), 256)])
        return float(np.mean(np.argmax(logits, -1) == labels))
    return accuracy, inputs


def measure(work: Path, key: str, repeats: int) -> list[dict]:
    import numpy as np
    import tensorflow as tf

    from tfmodels.saving import load_keras_model
    from tfmodels.verbs.export_portable import LiteRTModel, OnnxModel, export_portable
    from tfmodels.verbs.quantize import _saved_size, quantize_run

    run = trained(work, key)
    quality, sample = quality_fn(run, key)
    batch1, batch64 = sample[:1], np.concatenate([sample] * (64 // len(sample) + 1))[:64]
    rows = []

    def keras_row(name, model, size):
        call = tf.function(lambda x: model(x, training=False))
        predict = lambda x: call(tf.constant(x)).numpy()  # noqa: E731
        rows.append({"format": name, "bytes": size, "ms1": timed(predict, batch1, repeats),
                     "ms64": timed(predict, batch64, repeats), "quality": quality(predict)})
        print(rows[-1], flush=True)

    model = load_keras_model(run / "model.keras")
    keras_row("Keras float32", model, _saved_size(model))
    for mode in ["int8", "int4"] + (["gptq"] if key == "gpt" else []):
        out = work / f"{key}-{mode}"
        if not (out / "model.keras").is_file():
            quantize_run(run, mode, out=out, evaluate=False)
        keras_row(f"Keras {mode}" + (" (4-bit)" if mode == "gptq" else ""), load_keras_model(out / "model.keras"),
                  (out / "model.keras").stat().st_size)
    for format, conversion in [("litert", "float"), ("litert", "float16"), ("litert", "dynamic"),
                               ("litert", "int8"), ("onnx", None)]:
        out = work / f"{key}-{format}-{conversion or 'float'}"
        if not out.is_dir():
            export_portable(run, format, out=out, quantize=conversion)
        file = out / ("model.tflite" if format == "litert" else "model.onnx")
        runner = (LiteRTModel if format == "litert" else OnnxModel)(file)
        rows.append({"format": f"LiteRT {conversion}" if format == "litert" else "ONNX (onnxruntime)",
                     "bytes": file.stat().st_size, "ms1": timed(runner, batch1, repeats),
                     "ms64": timed(runner, batch64, repeats), "quality": quality(runner)})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tfmodels-compression")
    parser.add_argument("--only", default="mlp,sst2,gpt")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ.setdefault("TFMODELS_SHARED_DATA", default_shared_data())
    args.work.mkdir(parents=True, exist_ok=True)
    sections = []
    for key in args.only.split(","):
        rows = measure(args.work, key, args.repeats)
        base = rows[0]
        metric = "validation loss per character" if key == "gpt" else "test accuracy"
        lines = [f"### {MODELS[key][0]} (`configs/{MODELS[key][1]}`)", "",
                 f"| format | size (KiB) | size vs float | ms, batch 1 | ms, batch 64 | {metric} | vs float |",
                 "|---|---|---|---|---|---|---|"]
        for row in rows:
            delta = row["quality"] - base["quality"]
            lines.append(f"| {row['format']} | {row['bytes'] / 1024:,.1f} | {row['bytes'] / base['bytes']:.0%} | "
                         f"{row['ms1']:.2f} | {row['ms64']:.2f} | {row['quality']:.4f} | {delta:+.4f} |")
        sections.append("\n".join(lines))
    body = ("## Compression: quantization, LiteRT and ONNX (`benchmarks/compression.py`)\n\n"
            "Size on disk of the file each format serves from (Keras: the `.keras` file without optimizer state); "
            "latency: median of repeated calls on one batch after warm-up, on this machine's 2 cores; quality on the "
            "held-out set. Targets: int8 within 1 point (0.02 loss for the GPT) of float at <= 30% of its size.\n\n"
            + "\n\n".join(sections))
    write_section("compression", body)
    print(body)


if __name__ == "__main__":
    main()
