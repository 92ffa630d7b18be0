"""Distillation, measured: a 1-layer student distilled from the fine-tuned 2-layer encoder, against the same
student trained alone, on SST-2 dev.tsv (872).

    python -m benchmarks.distillation [--shared-data ../shared/data] [--work DIR] [--pretrained MLM_RUN] [--seeds 1]

1. The teacher: `configs/encoder_sst2_finetune.yaml` (2 layers) fine-tuned from the masked-LM pretraining
   of `configs/encoder_mlm.yaml` (`--pretrained`: a finished one, else it pretrains, about 22 minutes).
2. The student: the same config with `model.encoder.num_layers=1`, from random init, the same budget:
   - alone, with its own vocabulary (learnt from SST-2's training text, as any run from scratch);
   - alone, with the teacher's vocabulary (`trainer.distill.alpha=0`: the labels only; the control that
     tells the vocabulary's part from the teacher's);
   - distilled (`trainer.distill.teacher`, temperature 2, alpha 0.5).
Writes the "distillation" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate

CONFIG = "encoder_sst2_finetune.yaml"
STUDENT = ["model.encoder.num_layers=1"]
DISTILL = ["trainer.distill.temperature=2.0", "trainer.distill.alpha=0.5"]


def parameters(run_dir: Path) -> int:
    from tfmodels.saving import load_keras_model

    return int(load_keras_model(run_dir / "model.keras").count_params())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tfmodels-distillation")
    parser.add_argument("--pretrained", type=Path, help="a finished run of configs/encoder_mlm.yaml (as shipped)")
    parser.add_argument("--seeds", type=int, default=1, help="train every student with seeds 1..N")
    args = parser.parse_args(argv)
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    work, started = args.work, time.time()
    work.mkdir(parents=True, exist_ok=True)
    mlm = args.pretrained.resolve() if args.pretrained else work / "mlm"
    if not args.pretrained:
        train_and_evaluate("encoder_mlm.yaml", [], mlm)
    teacher_dir = work / "teacher"
    teacher = train_and_evaluate(CONFIG, [f"init.from_run={mlm}"], teacher_dir)
    print(f"teacher: {teacher['accuracy']:.4f}", flush=True)
    rows = [("teacher: 2 layers, pretrained, fine-tuned", [teacher], parameters(teacher_dir))]
    students = [
        ("student alone: 1 layer, its own vocabulary", STUDENT),
        ("student alone: 1 layer, the teacher's vocabulary (`alpha=0`)",
         [*STUDENT, f"trainer.distill.teacher={teacher_dir}", "trainer.distill.alpha=0.0"]),
        ("student distilled: 1 layer (`temperature=2, alpha=0.5`)",
         [*STUDENT, f"trainer.distill.teacher={teacher_dir}", *DISTILL]),
    ]
    for index, (name, overrides) in enumerate(students):
        results = []
        for seed in range(1, args.seeds + 1):
            run_dir = work / f"student{index}-seed{seed}"
            results.append(train_and_evaluate(CONFIG, [*overrides, f"runtime.seed={seed}"], run_dir))
            print(name, seed, f"{results[-1]['accuracy']:.4f}", flush=True)
        rows.append((name, results, parameters(work / f"student{index}-seed1")))
        write(rows, time.time() - started, args.seeds)


def write(rows: list, seconds: float, seeds: int) -> None:
    alone, distilled = (rows[1][1] if len(rows) > 1 else None), (rows[3][1] if len(rows) > 3 else None)
    lines = ["## Distillation: a 1-layer student of the fine-tuned encoder, SST-2 (`benchmarks/distillation.py`)", "",
             f"`configs/{CONFIG}` on SST-2 train.tsv, reported on dev.tsv (872). Teacher: 2 layers, fine-tuned from the "
             "masked-LM pretraining of `configs/encoder_mlm.yaml`. Students: the same config with 1 layer, from random "
             "init, the same budget (2 epochs). The training time of a distilled student includes the teacher's "
             "forward pass on every batch.", "",
             "| model | dev accuracy (median) | min - max | seeds | parameters | seconds (median) | training ms per example |",
             "|---|---|---|---|---|---|---|"]
    for name, results, count in rows:
        accuracies = [r["accuracy"] for r in results]
        lines.append(f"| {name} | {np.median(accuracies):.4f} | {min(accuracies):.4f} - {max(accuracies):.4f} | "
                     f"{len(results)} | {count:,} | {np.median([r['seconds'] for r in results]):.0f} | "
                     f"{1000 / np.median([r['examples_per_second'] for r in results]):.2f} |")
    if alone and distilled:
        gain = np.median([r["accuracy"] for r in distilled]) - np.median([r["accuracy"] for r in alone])
        lines += ["", f"Distilled minus alone (own vocabulary): **{gain:+.4f}** (target: above 0)."]
    lines += ["", f"Benchmark time: {seconds / 60:.0f} minutes."]
    write_section("distillation", "\n".join(lines))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
