"""`tfmodels evaluate`: accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix of a finished run.

The numbers go into the run's metrics.json (under "evaluation"), the confusion matrix also into
a PNG in the run folder and an image in TensorBoard (`logs/evaluation`). A language model's run
is evaluated on a corpus instead, into metrics.json and TensorBoard alike: masked-LM pretraining by
loss and perplexity per masked token and masked-token accuracy; a causal LM by loss and
perplexity per predicted token, next-token accuracy, and bits per character (loss / ln 2).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from tfmodels.files import atomic_write_json, read_json, write_aside
from tfmodels.plots import confusion_matrix_png
from tfmodels.run_folder import RunPaths, read_run_config, require_finished, write_training_curves
from tfmodels.saving import load_keras_model
from tfmodels.tasks import task_for


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict:
    classes = list(range(num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0
    )
    return {
        "examples": int(len(labels)),
        "accuracy": float(np.mean(labels == predictions)),
        "macro_f1": float(np.mean(f1)),
        "per_class": [
            {"class": c, "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
             "support": int(support[c])}
            for c in classes
        ],
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
    }


def evaluate_run(run_dir, data_spec: str | None = None, split: str | None = None,
                 trust_code: bool = False) -> tuple[str, dict]:
    """Evaluates the run's model on one of its splits or on `data_spec`; returns (name, metrics)."""
    paths = RunPaths(run_dir)
    require_finished(paths)
    config = read_run_config(paths)
    info = read_json(paths.data_info)
    task = task_for(config)
    if task.evaluation_kind == "language_model":
        return _evaluate_language_model(task, paths, info, data_spec, split, trust_code)
    inputs, labels, name, source = task.evaluation_data(paths, info, data_spec, split)

    model = load_keras_model(paths.model, trust_code=trust_code)
    logits = model.predict(inputs, batch_size=256, verbose=0)
    result = classification_metrics(labels, np.argmax(logits, axis=-1), int(info["num_classes"]))
    result["source"] = source

    png = confusion_matrix_png(np.array(result["confusion_matrix"]),
                               f"{paths.name} on {name}: accuracy {result['accuracy']:.4f}")
    write_aside(paths.confusion_matrix(name), lambda tmp: tmp.write_bytes(png))
    write_training_curves(paths)
    with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
        tf.summary.image(f"confusion_matrix/{name}", tf.image.decode_png(png)[None], step=0)
        matrix = result["confusion_matrix"]  # the counts too, as a table (rows: true class)
        table = ["| true \\ predicted | " + " | ".join(map(str, range(len(matrix)))) + " |",
                 "|---" * (len(matrix) + 1) + "|"]
        table += [f"| {i} | " + " | ".join(map(str, row)) + " |" for i, row in enumerate(matrix)]
        tf.summary.text(f"confusion_matrix/{name}/counts", "\n".join(table), step=0)
    _record(paths, name, result)
    return name, result


def _evaluate_language_model(task, paths: RunPaths, info: dict, data_spec, split, trust_code: bool):
    dataset, name, source, sequences = task.evaluation_dataset(paths, info, data_spec, split)
    dataset = dataset.cache()  # masked once: the count of masked tokens below reads the same batches
    model = load_keras_model(paths.model, trust_code=trust_code)
    model.compile(**task.compile_args())  # the loss and metrics of training, per masked token
    values = model.evaluate(dataset, verbose=0, return_dict=True)
    tokens = sum(float(weights.sum()) for _, _, weights in dataset.as_numpy_iterator())
    if info.get("task") == "causal_lm":
        # Keras's `loss` is a mean of batch means; the corpus's mean per token is ln(perplexity).
        loss = float(np.log(values["perplexity"]))
        result = {"kind": "causal_lm", "tokens": int(sequences), "predicted_tokens": int(tokens), "loss": loss,
                  "perplexity": float(values["perplexity"]), "accuracy": float(values["accuracy"]),
                  **({"bits_per_character": loss / float(np.log(2))} if paths.characters.is_file() else {})}
    else:
        result = {"kind": "language_model", "sequences": int(sequences), "masked_tokens": int(tokens),
                  **{k: float(v) for k, v in values.items()}}
    result["source"] = source
    with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
        for key in ("loss", "perplexity", "masked_accuracy", "accuracy", "bits_per_character"):
            if key in result:
                tf.summary.scalar(f"{name}/{key}", result[key], step=0)
    _record(paths, name, result)
    return name, result


def _record(paths: RunPaths, name: str, result: dict) -> None:
    metrics = read_json(paths.metrics)
    metrics.setdefault("evaluation", {})[name] = result
    atomic_write_json(paths.metrics, metrics)


def format_report(name: str, result: dict) -> str:
    if result.get("kind") == "causal_lm":
        bits = f", {result['bits_per_character']:.4f} bits per character" if "bits_per_character" in result else ""
        return (f"{name}: {result['tokens']} tokens, {result['predicted_tokens']} predicted; loss {result['loss']:.4f} "
                f"per token, perplexity {result['perplexity']:.3f}{bits}, next-token accuracy {result['accuracy']:.4f}")
    if result.get("kind") == "language_model":
        return (f"{name}: {result['sequences']} sequences, {result['masked_tokens']} masked tokens; loss "
                f"{result['loss']:.4f} per masked token, perplexity {result['perplexity']:.2f}, masked-token accuracy "
                f"{result['masked_accuracy']:.4f}")
    lines = [
        f"{name}: {result['examples']} examples, accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}",
        "class  precision  recall     f1  support",
    ]
    for row in result["per_class"]:
        lines.append(f"{row['class']:>5}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  {row['support']:7d}")
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    lines += ["  " + " ".join(f"{v:4d}" for v in row) for row in result["confusion_matrix"]]
    return "\n".join(lines)
