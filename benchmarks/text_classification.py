"""Text classification from random init on real data: SST-2 and IMDB, the Transformer beside the bag of words.

    python -m benchmarks.text_classification [--shared-data ../shared/data] [--only sst2|imdb|synthetic]
                                             [--seeds 1 2 3] [--models transformer bag_of_words] [--work DIR]

Prints accuracy (the median over the seeds, with min and max), wall time and tokens per second
(of the median seed), and writes each data set's rows to its own section of docs/benchmarks.md
("text-synthetic", "text-sst2", "text-imdb"). The baseline uses the same tokens, data and budget
(`model.type=bag_of_words`, mean pooling). Tokens per second count every position of the padded sequences the model sees.
With `--work DIR` the run folders are kept there, and a rerun does not train a finished run again
(one IMDB seed is 40-50 minutes here).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import train_and_evaluate

BASELINE = ["model.type=bag_of_words", "model.head.pooling=mean"]
TASKS = {
    "synthetic": ("built-in synthetic reviews (test 2,000)", "encoder_synthetic.yaml"),
    "sst2": ("SST-2: train.tsv -> dev.tsv (872)", "encoder_sst2.yaml"),
    "imdb": ("IMDB: aclImdb/train -> aclImdb/val (5,000)", "encoder_imdb.yaml"),
}


def row(name: str, model: str, results: list[dict]) -> str:
    ordered = sorted(results, key=lambda r: r["accuracy"])
    median = ordered[len(ordered) // 2]
    length = median["config"].data.tokenizer.sequence_length
    tokens = median["examples_per_second"] * length
    accuracies = [r["accuracy"] for r in ordered]
    return (f"| {name} | {model} | {median['accuracy']:.4f} ({min(accuracies):.4f} - {max(accuracies):.4f}) | "
            f"{len(results)} | {median['epochs']} | {median['seconds']:.0f} | {median['fit_seconds']:.0f} | "
            f"{tokens:,.0f} |")


HEADER = [
    "| data | model | test accuracy: median (min - max) | seeds | epochs | seconds (all) | seconds (fit) | "
    "tokens/s in fit |",
    "|---|---|---|---|---|---|---|---|",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--only", choices=sorted(TASKS), action="append")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="runtime.seed of each run")
    parser.add_argument("--models", nargs="+", choices=["transformer", "bag_of_words"],
                        default=["transformer", "bag_of_words"], help="which of the two to train (default both)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of the Transformer's config (repeatable; the baseline gets it too)")
    parser.add_argument("--work", help="keep the run folders here, and reuse the finished ones (default: a temporary folder)")
    args = parser.parse_args()
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.work or tmp
        for key in args.only or list(TASKS):
            name, config_file = TASKS[key]
            lines = [f"## Text classification from random init: {name} (`benchmarks/text_classification.py`)", "",
                     f"`configs/{config_file}` "
                     + (f"with `{' '.join(args.set)}`" if args.set else "as shipped")
                     + ", and its baseline: the same config with "
                     "`model.type=bag_of_words` (mean of the word embeddings), the same tokens, data and budget.",
                     "", *HEADER]
            for model, overrides in (("Transformer", []), ("bag of words", BASELINE)):
                if model.replace(" ", "_").lower() not in args.models:
                    continue
                results = [train_and_evaluate(config_file, [*args.set, *overrides, f"runtime.seed={seed}"],
                                              Path(tmp) / f"{key}-{model.replace(' ', '_')}-{seed}")
                           for seed in args.seeds]
                lines.append(row(name, model, results))
                print(lines[-1], flush=True)
            write_section(f"text-{key}", "\n".join(lines))
    print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
