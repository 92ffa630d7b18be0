"""Where one training step of the reference encoder spends its time, by kind of work, on this CPU.

    python -m benchmarks.encoder_profile [--steps 5] [--timed-steps 20] [--variants ours,float32,hub16,hub32]

The suite (`python -m benchmarks`) says how fast; this says why. First, each of the step's matrix products
alone at its shape (forward and both gradients, float32 and bfloat16), the best the products can do.
Then, for each variant, trained on the suite's masked-LM batches (`configs/encoder_reference.yaml`):
the untraced step (median of `--timed-steps`), then TensorFlow's profiler around `--steps` more steps
of `fit`, its `.xplane.pb` read with TensorFlow's own protobuf and the op events' durations summed by
kind (`KINDS`). The process runs one inter-op thread, so that ops do not overlap and their durations add up to the
step (with two, concurrent ops slow each other and every op looks slower than it is).

Variants: `ours` (the precision and XLA this CPU gets by default), `float32` (ours in float32),
`hub16` / `hub32` (keras-hub's BERT in mixed_bfloat16 / float32, as the suite builds it). The process
asks for the element-wise XLA clustering as the tfmodels command and the suite do (on CPUs with fast
bfloat16), so every variant runs under it, as in the suite.

Prints the table and writes the "encoder-profile" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.suite import (
    REFERENCE_CONFIG,
    StepClock,
    build_keras_hub,
    build_tfmodels,
    ceiling,
    reference_batches,
    reference_text,
    training_flops_per_step,
)

# Op type -> kind of work. An op type is the part of an event's name after its last ":" (TensorFlow
# names op events "scope/name:Type"). Types not listed are element-wise or bookkeeping ("other ops").
KINDS = {
    "matrix products": ("_MklMatMul", "_MklBatchMatMulV2", "_MklFusedMatMul", "_FusedMatMul", "MatMul",
                        "BatchMatMulV2", "BatchMatMulV3", "_MklEinsum", "Einsum", "_MklNativeFusedMatMul",
                        "_MklNativeMatMul", "_MklNativeBatchMatMulV2"),
    "XLA clusters (element-wise, fused)": ("_XlaRun", "_XlaCompile", "XlaLaunch", "_XlaMerge"),
    "casts": ("Cast",),
    "layout (transpose, reshape, copies)": ("Transpose", "_MklTranspose", "ConjugateTranspose", "_MklToTf",
                                            "Reshape", "Identity", "Pack", "ConcatV2", "Slice", "StridedSlice",
                                            "Tile", "BroadcastTo", "ExpandDims", "Squeeze"),
    "random numbers (dropout)": ("StatelessRandomUniformV2", "StatelessRandomUniformFullIntV2", "StatelessRandomGetKeyCounter",
                                 "StatelessRandomUniformIntV2", "RandomUniform"),
    "embedding look-up and its gradient": ("ResourceGather", "GatherV2", "UnsortedSegmentSum",
                                           "ResourceScatterAdd", "GatherNd", "ScatterNd"),
    "optimizer (fused updates)": ("ResourceApplyAdam", "ResourceApplyAdamWithAmsgrad", "ResourceApplyKerasMomentum",
                                  "AssignSubVariableOp", "AssignAddVariableOp", "AssignVariableOp"),
    "softmax, norms, reductions": ("Softmax", "_MklSoftmax", "LogSoftmax", "SparseSoftmaxCrossEntropyWithLogits",
                                   "Sum", "Mean", "Max", "_MklLayerNorm", "FusedBatchNormV3"),
}
KIND_OF = {op: kind for kind, ops in KINDS.items() for op in ops}
OTHER = "other ops (element-wise outside XLA, bookkeeping)"
OP_EVENT = re.compile(r"^[^:\s][^:]*:([A-Za-z_][A-Za-z0-9_]*)$")  # "scope/name:Type", not "Iterator::Map"


def op_seconds(logdir: str) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds and counts per op type in the host plane of the profile written under `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    traces = sorted(Path(logdir).rglob("*.xplane.pb"))
    if not traces:
        raise RuntimeError(f"the profiler wrote no .xplane.pb under {logdir}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(traces[-1].read_bytes())
    seconds, counts = defaultdict(float), defaultdict(int)
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                match = OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if match:
                    seconds[match.group(1)] += event.duration_ps / 1e12
                    counts[match.group(1)] += 1
    return dict(seconds), dict(counts)


def by_kind(seconds: dict[str, float], counts: dict[str, int], steps: int) -> dict[str, dict]:
    """ms a step and ops a step per kind of work, with the op types that make it up."""
    kinds = defaultdict(lambda: {"ms": 0.0, "ops": 0, "types": {}})
    for op, s in seconds.items():
        k = kinds[KIND_OF.get(op, OTHER)]
        k["ms"] += s * 1e3 / steps
        k["ops"] += counts[op] // steps
        k["types"][op] = s * 1e3 / steps
    return dict(kinds)


def dataset(batches: list, inputs_for, steps: int):
    import numpy as np
    import tensorflow as tf

    part = [batches[i % len(batches)] for i in range(steps)]
    x = {k: np.concatenate([inputs_for(b[0])[k] for b in part]) for k in inputs_for(part[0][0])}
    y, w = np.concatenate([b[1] for b in part]), np.concatenate([b[2] for b in part])
    return tf.data.Dataset.from_tensor_slices((x, y, w)).batch(len(part[0][1])).prefetch(2)


def profile_variant(model, inputs_for, batches: list, steps: int, timed_steps: int) -> dict:
    import tensorflow as tf

    model.fit(dataset(batches, inputs_for, 3), epochs=1, verbose=0, shuffle=False)  # traces, compiles
    clock = StepClock()
    model.fit(dataset(batches, inputs_for, timed_steps), epochs=1, verbose=0, shuffle=False, callbacks=[clock.callback])
    intervals = [b - a for a, b in zip(clock.ends[1:], clock.ends[2:])]
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        model.fit(dataset(batches, inputs_for, steps), epochs=1, verbose=0, shuffle=False)
        traced = (time.perf_counter() - started) / steps
        tf.profiler.experimental.stop()
        seconds, counts = op_seconds(logdir)
    return {"step_ms": statistics.median(intervals) * 1e3, "traced_step_ms": traced * 1e3,
            "kinds": by_kind(seconds, counts, steps)}


def product_shapes(config, facts: dict) -> list[tuple[str, int, int, int]]:
    """(name, M, K, N) of the reference encoder's forward products: per layer the fused Q/K/V projection, the
    attention output, the FFN's two; the head's dense layer and vocabulary projection (at the masked slots)."""
    e, batch = config.model.encoder, config.trainer.batch_size
    tokens, slots = batch * facts["sequence_length"], batch * facts["mask_positions"]
    return [("Q/K/V projection", tokens, e.width, 3 * e.width), ("attention output", tokens, e.width, e.width),
            ("FFN in", tokens, e.width, e.ffn_dim), ("FFN out", tokens, e.ffn_dim, e.width),
            ("head dense", slots, e.width, e.width), ("vocabulary projection", slots, e.width, facts["vocabulary_size"])]


def product_rates(shapes, repeats: int = 20) -> list[dict]:
    """GFLOP/s of each product alone, as the step runs it: forward X W, and the two gradients
    dX = dY W^T and dW = X^T dY, in float32 and bfloat16 (oneDNN, no XLA)."""
    import tensorflow as tf

    product = tf.function(lambda a, b, ta, tb: tf.matmul(a, b, transpose_a=ta, transpose_b=tb))
    rows = []
    for name, m, k, n in shapes:
        row = {"name": name, "shape": f"{m} x {k} x {n}"}
        for dtype in (tf.float32, tf.bfloat16):
            def r(*shape):
                return tf.cast(tf.random.normal(shape), dtype)

            # forward (M,K)(K,N); dX (M,N)(K,N)^T; dW (M,K)^T(M,N): each 2 M K N FLOPs.
            cases = [(r(m, k), r(k, n), False, False), (r(m, n), r(k, n), False, True), (r(m, k), r(m, n), True, False)]
            seconds = 0.0
            for a, b, ta, tb in cases:
                product(a, b, ta, tb).numpy()
                started = time.perf_counter()
                for _ in range(repeats):
                    out = product(a, b, ta, tb)
                out.numpy()
                seconds += (time.perf_counter() - started) / repeats
            row[dtype.name] = 3 * 2 * m * k * n / seconds / 1e9
        rows.append(row)
    return rows


VARIANTS = {"ours": "tfmodels, defaults", "float32": "tfmodels, float32", "hub16": "keras-hub, mixed_bfloat16",
            "hub32": "keras-hub, float32"}


def run(args) -> dict:
    import keras
    import tensorflow as tf

    from tfmodels.config import load_config
    from tfmodels.runtime import resolve_precision, resolve_xla

    tf.config.threading.set_inter_op_parallelism_threads(1)
    config = load_config(REFERENCE_CONFIG)
    total = 3 + args.timed_steps + args.steps
    config.trainer.epochs, config.trainer.warmup_steps = 1, 2
    texts, source = reference_text(Path(args.shared_data) if args.shared_data else None)
    batches, facts, _ = reference_batches(config, texts, min(total, 40))
    flops = training_flops_per_step(config, facts)
    precision, _ = resolve_precision(config.runtime.precision)
    xla, _ = resolve_xla(config.runtime.xla, precision)
    print(f"ceiling: a {args.matmul_size}-square product, float32 and bfloat16")
    top = ceiling(args.matmul_size, 3)
    report = {"source": source, "model_gflop_per_step": flops / 1e9, "defaults": f"{precision}, xla {xla}",
              "ceiling_gflops": {k: v["median"] for k, v in top.items()}, "variants": {}}
    print("the step's products alone (forward and both gradients)")
    report["products"] = product_rates(product_shapes(config, facts))
    for key in args.variants:
        keras.utils.set_random_seed(1)
        if key == "ours":
            built = build_tfmodels(config, facts, precision, xla, total)
        elif key == "float32":
            built = build_tfmodels(config, facts, "float32", "off", total)
        else:
            built = build_keras_hub(config, facts, "mixed_bfloat16" if key == "hub16" else "float32", total)
        keras.mixed_precision.set_dtype_policy("float32")
        print(f"profiling {VARIANTS[key]} ...")
        result = profile_variant(*built, batches, args.steps, args.timed_steps)
        gflops = flops / 1e9 / (result["step_ms"] / 1e3)
        products = result["kinds"].get("matrix products", {"ms": 0.0})["ms"]
        result.update(model_gflops_per_second=gflops,
                      mfu_bfloat16=gflops / report["ceiling_gflops"]["bfloat16"],
                      mfu_float32=gflops / report["ceiling_gflops"]["float32"],
                      product_gflops_per_second=flops / 1e9 / (products / 1e3) if products else float("nan"))
        report["variants"][VARIANTS[key]] = result
        print(f"  {result['step_ms']:.0f} ms a step, {gflops:.0f} model GFLOP/s; "
              + ", ".join(f"{k} {v['ms']:.0f} ms" for k, v in sorted(result["kinds"].items(), key=lambda kv: -kv[1]["ms"])))
    return report


def markdown(report: dict) -> str:
    names = list(report["variants"])
    kinds = [*KINDS, OTHER]
    c = report["ceiling_gflops"]
    lines = [
        "## Where an encoder step's time goes (`python -m benchmarks.encoder_profile`)",
        "",
        f"The reference encoder (`configs/encoder_reference.yaml`, {report['model_gflop_per_step']:.1f} model GFLOP a "
        f"step, {report['source']}); ours by default here: {report['defaults']}. Ceiling (a large product): "
        f"{c['float32']:.0f} GFLOP/s float32, {c['bfloat16']:.0f} bfloat16. Op times from TensorFlow's profiler, one "
        "inter-op thread, ms a step (ops a step); the traced step is slower than the untraced one by the profiler's "
        "own cost.",
        "",
        "| ms a step | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for kind in kinds:
        cells = []
        for n in names:
            k = report["variants"][n]["kinds"].get(kind)
            cells.append(f"{k['ms']:.0f} ({k['ops']})" if k else "-")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    rows = [("sum of op times", lambda r: f"{sum(k['ms'] for k in r['kinds'].values()):.0f}"),
            ("step, traced", lambda r: f"{r['traced_step_ms']:.0f}"),
            ("**step, untraced (median)**", lambda r: f"**{r['step_ms']:.0f}**"),
            ("model GFLOP/s (untraced)", lambda r: f"{r['model_gflops_per_second']:.0f}"),
            ("MFU of the bfloat16 / float32 ceiling", lambda r: f"{r['mfu_bfloat16']:.0%} / {r['mfu_float32']:.0%}"),
            ("products' own rate (model FLOPs / product time)", lambda r: f"{r['product_gflops_per_second']:.0f} GFLOP/s")]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(report["variants"][n]) for n in names) + " |")
    lines += ["", "The step's matrix products alone (oneDNN, no XLA; forward and both gradients, GFLOP/s): what the "
              "products' time above can be at best, shape by shape (M x K x N).", "",
              "| product | shape | float32 | bfloat16 |", "|---|---|---|---|"]
    lines += [f"| {p['name']} | {p['shape']} | {p['float32']:.0f} | {p['bfloat16']:.0f} |" for p in report["products"]]
    lines += ["", "Largest op types of each variant (ms a step):", ""]
    for n in names:
        types = sorted(((op, ms) for k in report["variants"][n]["kinds"].values() for op, ms in k["types"].items()),
                       key=lambda t: -t[1])[:8]
        lines.append(f"- {n}: " + ", ".join(f"`{op}` {ms:.1f}" for op, ms in types))
    return "\n".join(lines)


def parse_args(argv=None):
    from benchmarks import default_shared_data

    parser = argparse.ArgumentParser(prog="python -m benchmarks.encoder_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="profiled steps per variant (default 5)")
    parser.add_argument("--timed-steps", type=int, default=20, help="untraced steps timed per variant (default 20)")
    parser.add_argument("--variants", default="ours,float32,hub16,hub32",
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default all)")
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--no-write", action="store_true", help="print only; do not write docs/")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from tfmodels.runtime import request_fusible_xla

    request_fusible_xla()  # before TensorFlow starts, as the tfmodels command and the suite do
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from benchmarks.report import now_stamp, write_section

    measured = now_stamp()
    text = markdown(run(args))
    print(text)
    if not args.no_write:
        write_section("encoder-profile", text, measured=measured)
        print("written to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
