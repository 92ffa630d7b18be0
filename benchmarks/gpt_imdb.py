"""A GPT on the IMDB reviews' text (byte-level BPE), its perplexity beside n-gram baselines.

    python -m benchmarks.gpt_imdb [--shared-data ../shared/data] [--work DIR] [--set KEY=VALUE ...]

Trains `configs/gpt_imdb_bpe.yaml` (aclImdb/train's text; a finished run in `--work` is reused),
then `tfmodels evaluate` reads the whole of aclImdb/val's text once (every BPE token but the first
predicted, contexts of up to the block). On the same token ids: a unigram model (add-one) and a
bigram model (interpolated Kneser-Ney) fitted on the training stream (`benchmarks/ngram.py`).
Prints the perplexities and writes the "gpt-imdb" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import CONFIGS, default_shared_data
from benchmarks.ngram import bigram_cross_entropy, unigram_cross_entropy
from benchmarks.report import write_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared-data", default=default_shared_data())
    parser.add_argument("--work", help="keep the run folder here, and reuse it when finished")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ["TFMODELS_SHARED_DATA"] = str(Path(args.shared_data).resolve())

    from tfmodels.config import apply_overrides, load_config
    from tfmodels.run_folder import RunPaths, finished_run_of
    from tfmodels.tasks import task_for
    from tfmodels.verbs.evaluate import evaluate_run
    from tfmodels.verbs.train import train

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.work or tmp) / "gpt_imdb_bpe"
        config = apply_overrides(load_config(CONFIGS / "gpt_imdb_bpe.yaml"), ["logging.verbose=0", *args.set])
        metrics = finished_run_of(RunPaths(run), config)
        if metrics is None:
            metrics = train(config, run).metrics
        _, model = evaluate_run(run)  # the whole validation text
        task = task_for(config)
        data = task.prepare(task.load(), RunPaths(run))  # the run's own BPE ids
        streams, vocabulary = data.extra["streams"], data.preprocessor.vocabulary_size
        unigram = unigram_cross_entropy(streams["train"], streams["validation"], vocabulary)
        bigram = bigram_cross_entropy(streams["train"], streams["validation"], vocabulary)

    g, t = config.model.gpt, config.trainer
    rows = [("unigram (add-one)", unigram), ("bigram (interpolated Kneser-Ney)", bigram),
            (f"GPT {g.num_layers} x {g.num_heads} x {g.width}, block {g.block_size}", model["loss"])]
    lines = ["## A GPT on the IMDB reviews' text, byte-level BPE (`benchmarks/gpt_imdb.py`)", "",
             "`configs/gpt_imdb_bpe.yaml`" + (f" with `{' '.join(args.set)}`" if args.set else " as shipped")
             + f": a BPE vocabulary of {vocabulary:,} learnt from {config.data.tokenizer.vocabulary_sample:,} "
             f"training reviews; {len(streams['train']):,} training tokens (aclImdb/train), "
             f"{t.max_steps:,} steps of {t.batch_size} x {g.block_size} tokens "
             f"({t.max_steps * t.batch_size * g.block_size / len(streams['train']):.2f} passes over the text), "
             f"{metrics['wall_seconds']:.0f} s. Scored on the whole of aclImdb/val's text: "
             f"{model['predicted_tokens']:,} tokens, each predicted once (`tfmodels evaluate`), the same ids for all three.",
             "", "| model | cross-entropy per token (nats) | perplexity per BPE token |", "|---|---|---|",
             *[f"| {name} | {loss:.4f} | {math.exp(loss):.1f} |" for name, loss in rows],
             "", f"Next-token accuracy of the GPT: {model['accuracy']:.4f}."]
    print("\n".join(lines))
    write_section("gpt-imdb", "\n".join(lines))


if __name__ == "__main__":
    main()
