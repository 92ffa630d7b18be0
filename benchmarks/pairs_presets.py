"""Sentence pairs and published-checkpoint fine-tuning, measured.

    python -m benchmarks.pairs_presets [--shared-data ../shared/data] [--work DIR] [--skip-sst2]

1. Synthetic pairs (`configs/encoder_pairs_synthetic.yaml`): the pair model against the same model
   given the first sentence alone (same labels), test accuracy.
2. MRPC (`configs/encoder_mrpc.yaml`, dev.tsv): accuracy and F1 of "paraphrase" beside the majority
   baseline, from random init, from our BERT-wired masked-LM run (`configs/encoder_mlm_bert.yaml`,
   `init.from_run`) and from that run exported as a keras-hub preset (`init.preset`).
3. SST-2 dev (`configs/encoder_sst2_finetune.yaml` wired as BERT): the same pretrained encoder through
   `init.from_run` and through its keras-hub preset (`init.preset`): the two paths should agree.

A finished run in the work folder is not trained again. Prints the numbers and writes the
"pairs-presets" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.report import write_section

BERT_WIRING = ["model.encoder.norm_first=false", "model.encoder.activation=gelu_approximate",
               "model.encoder.layer_norm_epsilon=1e-12", "model.encoder.initializer_range=0.02",
               "model.encoder.num_segments=2"]  # configs/encoder_mlm_bert.yaml's wiring
PRETRAINED_LENGTH = ["data.tokenizer.sequence_length=64"]  # configs/encoder_mlm_bert.yaml's


def run(config_file: str, overrides: list[str], run_dir: Path) -> dict:
    """Train (unless finished already) and evaluate the test set: accuracy, F1 of class 1, seconds."""
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    config = apply_overrides(load_config(CONFIGS / config_file), ["logging.verbose=0", *overrides])
    metrics = finished_run_of(RunPaths(run_dir), config) or train(config, run_dir).metrics
    _, evaluation = evaluate_run(run_dir)
    f1 = next(row["f1"] for row in evaluation["per_class"] if row["class"] == 1)
    result = {"accuracy": evaluation["accuracy"], "f1": f1, "seconds": metrics["wall_seconds"],
              "epochs": metrics["epochs_trained"]}
    print(f"{run_dir.name}: {result}", flush=True)
    return result


def pretrained(work: Path) -> tuple[Path, Path]:
    """Our BERT-wired masked-LM run (trained once) and its keras-hub preset folder."""
    from tfmodels.config import load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.verbs.export_preset import export_keras_hub_preset
    from tfmodels.verbs.train import train

    run_dir, preset = work / "encoder_mlm_bert", work / "encoder_mlm_bert_preset"
    config = load_config(CONFIGS / "encoder_mlm_bert.yaml")
    if finished_run_of(RunPaths(run_dir), config) is None:
        train(config, run_dir)
    if not preset.exists():
        export_keras_hub_preset(run_dir, preset)
    return run_dir, preset


def first_sentence_tables(folder: Path) -> list[str]:
    """The synthetic pairs' first sentences alone with their labels, as train/validation/test tables."""
    from tfmodels.config import TextTableOptions
    from tfmodels.data.text import load_text

    folder.mkdir(parents=True, exist_ok=True)
    overrides = ["data.text.text_column=1", "data.text.class_names=null"]
    for role in ("train", "validation", "test"):
        pairs = load_text(f"synthetic_pairs?split={role}", role, TextTableOptions(text_column=[0, 1]))
        path = folder / f"{role}.tsv"
        path.write_text("".join(f"{y}\t{a}\n" for y, a in zip(pairs.labels, pairs.texts)), encoding="utf-8")
        overrides.append(f"data.{role}=tsv:{path}")
    return overrides


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", default=str(default_shared_data()))
    parser.add_argument("--work", default=None, help="folder of the runs (default: a new temporary folder)")
    parser.add_argument("--skip-sst2", action="store_true", help="leave out the SST-2 comparison (the longest part)")
    args = parser.parse_args(argv)
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())
    work = Path(args.work or tempfile.mkdtemp(prefix="pairs_presets_"))
    work.mkdir(parents=True, exist_ok=True)
    import numpy as np

    from tfmodels.config import TextTableOptions
    from tfmodels.data.text import load_text

    # --- 1. Synthetic pairs: the pair against one sentence ------------------------------------------
    pair = run("encoder_pairs_synthetic.yaml", [], work / "pairs_synthetic")
    single = run("encoder_pairs_synthetic.yaml", first_sentence_tables(work / "first_sentence"),
                 work / "pairs_first_sentence_only")

    # --- 2. MRPC -----------------------------------------------------------------------------------
    dev = load_text(f"tsv:{args.shared_data}/text_cls/mrpc/dev.tsv", "test", TextTableOptions(text_column=[3, 4]))
    majority = float(np.mean(dev.labels == 1))
    majority_f1 = 2 * majority / (1 + majority)  # precision = the share of positives, recall 1
    mlm_run, preset = pretrained(work)
    mrpc = {
        "random init": run("encoder_mrpc.yaml", [], work / "mrpc_scratch"),
        # The pretrained position table holds 64 positions: the pairs are cut to 64 tokens.
        "init.from_run (our masked LM)": run("encoder_mrpc.yaml", BERT_WIRING + PRETRAINED_LENGTH +
                                             [f"init.from_run={mlm_run}"], work / "mrpc_from_run"),
        "init.preset (the same, as a keras-hub preset)": run("encoder_mrpc.yaml", PRETRAINED_LENGTH +
                                                             [f"init.preset={preset}"], work / "mrpc_preset"),
    }

    # --- 3. SST-2 through both paths ----------------------------------------------------------------
    sst2 = {}
    if not args.skip_sst2:
        sst2 = {"init.from_run": run("encoder_sst2_finetune.yaml", BERT_WIRING + [f"init.from_run={mlm_run}"],
                                     work / "sst2_from_run"),
                "init.preset": run("encoder_sst2_finetune.yaml", [f"init.preset={preset}"], work / "sst2_preset")}

    lines = ["## Sentence pairs and presets (`python -m benchmarks.pairs_presets`)", "",
             "Synthetic pairs (does the second sentence repeat the first? `configs/encoder_pairs_synthetic.yaml`, "
             "test split of 1,000):", "",
             "| model reads | test accuracy | epochs | seconds |", "|---|---|---|---|",
             f"| the pair, `[CLS] a [SEP] b [SEP]` | {pair['accuracy']:.4f} | {pair['epochs']} | {pair['seconds']:.0f} |",
             f"| the first sentence alone | {single['accuracy']:.4f} | {single['epochs']} | {single['seconds']:.0f} |",
             "", f"MRPC dev (408 pairs; `configs/encoder_mrpc.yaml`); majority baseline: accuracy {majority:.4f}, "
             f"F1 {majority_f1:.4f}:", "",
             "| start | accuracy | F1 (paraphrase) | epochs | seconds |", "|---|---|---|---|---|",
             *[f"| {name} | {r['accuracy']:.4f} | {r['f1']:.4f} | {r['epochs']} | {r['seconds']:.0f} |"
               for name, r in mrpc.items()]]
    if sst2:
        gap = abs(sst2["init.from_run"]["accuracy"] - sst2["init.preset"]["accuracy"])
        lines += ["", "SST-2 dev from the same pretrained encoder (`configs/encoder_sst2_finetune.yaml` wired as "
                  "BERT), through the run folder and through its keras-hub preset "
                  f"(gap {100 * gap:.2f} points; target 0.5):", "",
                  "| path | dev accuracy | epochs | seconds |", "|---|---|---|---|",
                  *[f"| {name} | {r['accuracy']:.4f} | {r['epochs']} | {r['seconds']:.0f} |" for name, r in sst2.items()]]
    body = "\n".join(lines)
    print(body)
    write_section("pairs-presets", body)


if __name__ == "__main__":
    main()
