"""Evaluation a task runs for `tfmodels evaluate`, and the printed report of each kind of result.

A classifier is scored on predicted classes (accuracy, per-class precision/recall/F1, macro-F1, the
confusion matrix as numbers, a PNG and a TensorBoard image); a language model by its compiled loss
and metrics over a corpus (per masked or predicted token). A result names its `kind` (none: a
classification), which chooses its report.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from tfmodels.files import write_aside
from tfmodels.plots import confusion_matrix_png
from tfmodels.run_folder import RunPaths, write_training_curves
from tfmodels.saving import load_keras_model


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


def evaluate_classifier(task, paths: RunPaths, info: dict, data_spec, split, trust_code: bool) -> tuple[str, dict]:
    """(name, metrics) of the run's classifier on `task.evaluation_data`; the confusion matrix as a PNG
    beside the run and as an image and a table in TensorBoard (`logs/evaluation`)."""
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
    return name, result


def evaluate_language_model(task, paths: RunPaths, info: dict, data_spec, split, trust_code: bool):
    """(name, metrics) of a language model on `task.evaluation_dataset`: its training loss and metrics,
    per masked (or predicted) token, over the whole corpus; the scalars in TensorBoard too."""
    dataset, name, source, sequences = task.evaluation_dataset(paths, info, data_spec, split)
    dataset = dataset.cache()  # masked once: the count of masked tokens below reads the same batches
    model = load_keras_model(paths.model, trust_code=trust_code)
    model.compile(**task.compile_args())  # the loss and metrics of training, per masked token
    values = model.evaluate(dataset, verbose=0, return_dict=True)
    tokens = sum(float(weights.sum()) for _, _, weights in dataset.as_numpy_iterator())
    result = task.language_model_result(values, int(sequences), int(tokens), paths)
    result["source"] = source
    with tf.summary.create_file_writer(str(paths.evaluation_logs)).as_default():
        for key in ("loss", "perplexity", "masked_accuracy", "accuracy", "bits_per_character"):
            if key in result:
                tf.summary.scalar(f"{name}/{key}", result[key], step=0)
    return name, result


def format_causal_lm(name: str, result: dict) -> str:
    bits = f", {result['bits_per_character']:.4f} bits per character" if "bits_per_character" in result else ""
    return (f"{name}: {result['tokens']} tokens, {result['predicted_tokens']} predicted; loss {result['loss']:.4f} "
            f"per token, perplexity {result['perplexity']:.3f}{bits}, next-token accuracy {result['accuracy']:.4f}")


def format_masked_lm(name: str, result: dict) -> str:
    return (f"{name}: {result['sequences']} sequences, {result['masked_tokens']} masked tokens; loss "
            f"{result['loss']:.4f} per masked token, perplexity {result['perplexity']:.2f}, masked-token accuracy "
            f"{result['masked_accuracy']:.4f}")


def format_classification(name: str, result: dict) -> str:
    lines = [
        f"{name}: {result['examples']} examples, accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}",
        "class  precision  recall     f1  support",
    ]
    for row in result["per_class"]:
        lines.append(f"{row['class']:>5}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  {row['support']:7d}")
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    lines += ["  " + " ".join(f"{v:4d}" for v in row) for row in result["confusion_matrix"]]
    return "\n".join(lines)


# A result's "kind" -> its report (a task with a new kind of result adds its own with `add_report`).
REPORTS = {"classification": format_classification, "language_model": format_masked_lm,
           "causal_lm": format_causal_lm}


def add_report(kind: str, format_fn) -> None:
    REPORTS[kind] = format_fn


def format_report(name: str, result: dict) -> str:
    return REPORTS[result.get("kind", "classification")](name, result)
