"""The main job on the built-in defaults (no network needed):

1. a dense MLP on scikit-learn's bundled 8x8 digits: train, evaluate on held-out digits, export;
2. a Transformer encoder on the built-in synthetic reviews (sentiment that depends on word order
   and negation scope), beside the bag-of-words baseline with the same tokens and budget; the
   Transformer is exported as a SavedModel that takes raw strings;
3. the pretrain -> fine-tune path in miniature: masked-LM pretraining on the reviews' text (labels
   ignored), a classifier fine-tuned from that run, exported, and asked about one sentence;
4. a tiny character-level GPT on the same text (configs/gpt_shakespeare_char.yaml shrunk), asked to
   continue a prompt greedily.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from tfmodels.config import (
    apply_overrides,
    demo_config,
    demo_text_config,
    shipped_config,
)
from tfmodels.data.lm_tokenizers import read_codec
from tfmodels.tasks.registry import baseline_overrides
from tfmodels.verbs.evaluate import evaluate_run, format_report
from tfmodels.verbs.export import export_run
from tfmodels.verbs.generate import generate
from tfmodels.verbs.predict import predict
from tfmodels.verbs.train import train

# The miniature pretrain -> fine-tune path on the synthetic reviews: one epoch of pretraining
# (configs/mlm_synthetic.yaml), two of fine-tuning.
FINETUNE = ["name=finetune_synthetic", "trainer.epochs=2", "trainer.warmup_steps=20"]
SENTENCE = "the film is not bad but the ending is dull"
# A 2-layer character GPT on the reviews' text: 300 steps of the Shakespeare recipe, block 32.
GPT = ["name=gpt_synthetic", "data.train=synthetic?size=2000", "model.gpt.num_layers=2", "model.gpt.width=64",
       "model.gpt.block_size=32", "trainer.max_steps=300", "trainer.eval_interval=100", "trainer.eval_batches=4",
       "trainer.batch_size=32"]
PROMPT = "the film"


def run_demo(runs_dir: str = "runs/demo", overrides: list[str] = (), savedmodels_dir: str = "savedmodels",
             log: Callable[[str], None] = lambda _: None, text: bool = True) -> dict:
    """Trains the built-in defaults in new run folders; `overrides` apply to every config."""
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = {}

    def run(name: str, config, export: bool, evaluate: bool = True):
        run_dir = Path(runs_dir) / f"{config.name}-{stamp}"
        log(f"\n== {name} ==")
        result = train(config, run_dir, log=log)
        if not evaluate:
            results[config.name] = {"run_dir": result.paths.root, "metrics": result.metrics}
            return results[config.name]
        split, evaluation = evaluate_run(result.paths.root)
        log(format_report(split, evaluation))
        exported = export_run(result.paths.root, savedmodels_dir=savedmodels_dir) if export else None
        results[config.name] = {"run_dir": result.paths.root, "export_dir": exported,
                                "test_accuracy": evaluation["accuracy"], "examples": evaluation["examples"]}
        return results[config.name]

    mlp = run("a dense MLP on real handwritten digits (scikit-learn's 8x8 digits)",
              apply_overrides(demo_config(), list(overrides)), export=True)
    if text:
        encoder = run("a Transformer encoder on the synthetic reviews (order and negation matter)",
                      apply_overrides(demo_text_config(), list(overrides)), export=True)
        baseline = run("the bag-of-words baseline: same tokens, data and budget, no order",
                       apply_overrides(demo_text_config(), [*baseline_overrides(), "name=bow_synthetic",
                                                            *overrides]), export=False)
        pretrained = run("pretraining: masked-LM on the reviews' text, labels ignored",
                         apply_overrides(shipped_config("mlm_synthetic"), list(overrides)), export=False, evaluate=False)
        finetuned = run("fine-tuning a classifier from the pretrained run",
                        apply_overrides(demo_text_config(),
                                        [*FINETUNE, f"init.from_run={pretrained['run_dir']}", *overrides]),
                        export=True)
        answer = predict(finetuned["export_dir"], [SENTENCE])
        gpt = run("a character-level GPT on the reviews' text, then asked to continue a prompt",
                  apply_overrides(shipped_config("gpt_shakespeare_char"), [*GPT, *overrides]), export=False,
                  evaluate=False)
        continuation = generate(gpt["run_dir"], PROMPT, max_new_tokens=60).text

    log("\n== summary ==")
    log(f"digits, MLP:                test accuracy {mlp['test_accuracy']:.4f} ({mlp['examples']} held-out digits)")
    if text:
        log(f"synthetic reviews, Transformer:  test accuracy {encoder['test_accuracy']:.4f}")
        log(f"synthetic reviews, bag of words: test accuracy {baseline['test_accuracy']:.4f}")
        masked = pretrained["metrics"]["validation"]["masked_accuracy"]
        log(f"pretrained (masked accuracy {masked:.3f}), fine-tuned: test accuracy {finetuned['test_accuracy']:.4f}")
        log(f"  its SavedModel on {SENTENCE!r}: {answer.class_names[0]} ({answer.probabilities[0]:.3f})")
        log(f"character GPT: validation loss {gpt['metrics']['validation']['loss']:.3f} per character "
            f"(a uniform guess: {math.log(read_codec(gpt['run_dir']).vocabulary_size):.3f})")
        log(f"  greedy: {PROMPT}{continuation!r}")
    log(f"SavedModel (digits):  {mlp['export_dir']}")
    log(f"  try it: tfmodels predict {mlp['export_dir']} 'digits?split=test' --max-rows 5")
    if text:
        log(f"SavedModel (reviews): {encoder['export_dir']}")
        log(f"  try it: tfmodels predict {encoder['export_dir']} 'the film is not bad but the ending is dull'")
        log(f"  and: tfmodels generate {gpt['run_dir']} '{PROMPT}' --sampler top_k --seed 1")
    log(f"look at it: tensorboard --logdir {runs_dir}")
    log(f"demo took {time.time() - started:.1f}s")
    return results
