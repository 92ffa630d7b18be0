"""A hyper-parameter search on SST-2 from random init, measured: trials run and pruned, the best config
against the shipped one on dev.tsv (872), and the time the search spent outside its trials.

    python -m benchmarks.search [--shared-data ../shared/data] [--work DIR] [--max-time 40m] [--seeds 3]

1. `tfmodels search configs/encoder_sst2.yaml` over the learning rate, width, layers, dropout and sequence
   length (TPE, the median pruner, `--max-time`), objective `val_accuracy` (the 5% of train.tsv carved off).
2. The best config (`best.yaml`) and the shipped config, each trained with seeds 1..N, scored on dev.tsv.
Writes the "search" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate

SPACE = CONFIGS / "spaces" / "encoder_sst2.yaml"  # the space measured, shipped for users


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tfmodels-search")
    parser.add_argument("--max-time", default="40m")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    from tfmodels.search import make_plan, search, table

    args.work.mkdir(parents=True, exist_ok=True)
    plan = make_plan(CONFIGS / "encoder_sst2.yaml", SPACE, ["logging.verbose=0"],
                     trials=args.trials, max_time=args.max_time, study_dir=args.work / "study")
    result = search(plan, log=lambda line: print(line, flush=True))
    print(table(result.rows, plan), flush=True)
    states = [r["state"] for r in result.rows]
    from tfmodels.verbs.evaluate import evaluate_run

    best_trial_dev = evaluate_run(plan.study_dir / result.best["run"])[1]["accuracy"] if result.best else float("nan")
    print(f"best trial {result.best and result.best['trial']}: dev.tsv accuracy {best_trial_dev:.4f}", flush=True)
    retrained = {}
    for name, config, overrides in (("shipped `configs/encoder_sst2.yaml`", "encoder_sst2.yaml", []),
                                    ("best of the search (`best.yaml`)", str(result.best_config), [])):
        runs = [train_and_evaluate(config, [*overrides, f"runtime.seed={seed}"], args.work / f"{Path(config).stem}-{seed}")
                for seed in range(1, args.seeds + 1)]
        retrained[name] = [r["accuracy"] for r in runs]
        print(name, retrained[name], flush=True)
    space_text = "\n".join(line for line in SPACE.read_text().splitlines() if not line.startswith("#"))
    lines = ["## Hyper-parameter search: SST-2 from random init (`benchmarks/search.py`)", "",
             f"`tfmodels search configs/encoder_sst2.yaml` (TPE, median pruner, objective val_accuracy on the 5% "
             f"carved from train.tsv, `--max-time {args.max_time}`) over:", "", "```yaml", space_text, "```", "",
             f"Trials: {len(states)} ({states.count('complete')} complete, {states.count('pruned')} pruned, "
             f"{states.count('fail')} failed) in {result.seconds / 60:.1f} minutes; outside the trials (sampling, "
             f"the store, the report): {result.seconds - result.in_trials:.1f} s, "
             f"{100 * (1 - result.in_trials / result.seconds):.2f}% (aim: under 2%).", "",
             (f"The best trial ({result.best['trial']}, {plan.objective} {result.best[plan.objective]:.4f}) scores "
              f"{best_trial_dev:.4f} on dev.tsv as it is. " if result.best else "No trial completed. ") +
             "Retrained from scratch with other seeds, against the shipped config:", "",
             "| config | dev.tsv accuracy (median) | min - max | seeds |", "|---|---|---|---|"]
    for name, accuracies in retrained.items():
        lines.append(f"| {name} | {np.median(accuracies):.4f} | {min(accuracies):.4f} - {max(accuracies):.4f} | "
                     f"{len(accuracies)} |")
    lines += ["", "The trials:", "", "```", table(result.rows, plan), "```"]
    write_section("search", "\n".join(lines))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"benchmark time: {(time.time() - started) / 60:.0f} minutes")
