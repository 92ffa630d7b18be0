"""Predicting with an exported SavedModel, loaded with TensorFlow alone (no tfmodels classes).

For a model of images, each INPUT is a data spec (`digits?split=test`, `csv:PATH`, `idx:PREFIX`,
`npz:PATH`, `tfds:NAME`), a table file (`.csv`, `.csv.gz`, `.npz`), or an image file (`.png`,
`.jpg`, `.bmp`, `.gif`), read as grayscale, resized to the model's input shape, scaled to [0, 1].

For a model of text, each INPUT is a text data spec with labels (`tsv:PATH`, `dir:PATH`, ...), a
text file (one example a line), or the text itself ("a film that is not bad at all"). An INPUT
that looks like a path (a folder's name, or a name ending in .txt, .tsv, .csv, ...) but is no file
is an error, not a text to classify; `--text` takes every INPUT as text. A text model's
SavedModel tokenizes inside; TensorFlow needs `tensorflow_text` imported to run its ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.data.images import load_images
from tfmodels.data.specs import parse_spec
from tfmodels.errors import DataError, ExportError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
TABLE_KINDS = {".csv": "csv", ".gz": "csv", ".npz": "npz"}


@dataclass
class Predictions:
    class_ids: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N,) probability of the predicted class
    labels: np.ndarray | None  # (N,) true labels when the input has them
    class_names: list[str]  # (N,) names of the predicted classes
    texts: list[str] | None = None  # the inputs, for a text model
    all_probabilities: np.ndarray | None = None  # (N, num_classes), every class's probability
    names: list[str] | None = None  # (num_classes,) the model's class names, in id order

    def __len__(self) -> int:
        return len(self.class_ids)

    def records(self) -> list[dict]:
        """One dict an example, as `predict --output FILE.jsonl` writes them: the example's index, its text
        (a text model), the class and its probability, every class's probability by name, the label if known."""
        rows = []
        for i in range(len(self)):
            row = {"index": i, **({"text": self.texts[i]} if self.texts is not None else {}),
                   "class_id": int(self.class_ids[i]), "class_name": self.class_names[i],
                   "probability": float(self.probabilities[i])}
            if self.all_probabilities is not None:
                names = self.names or [str(c) for c in range(self.all_probabilities.shape[1])]
                row["probabilities"] = {name: float(p) for name, p in zip(names, self.all_probabilities[i])}
            if self.labels is not None:
                row["label"] = int(self.labels[i])
            rows.append(row)
        return rows


    def lines(self, max_rows: int = 20) -> list[str]:
        """The table `tfmodels predict` prints (at most `max_rows` rows; 0: all), and the accuracy on labels."""
        rows = len(self) if max_rows == 0 else min(max_rows, len(self))
        out = ["example  class  probability  name" + ("  label" if self.labels is not None else "")
               + ("  text" if self.texts is not None else "")]
        for i in range(rows):
            label = f"  {self.labels[i]:5d}" if self.labels is not None else ""
            text = f"  {self.texts[i][:60]}" if self.texts is not None else ""
            out.append(f"{i:7d}  {self.class_ids[i]:5d}  {self.probabilities[i]:11.4f}  {self.class_names[i]}{label}{text}")
        if rows < len(self):
            out.append(f"... {len(self) - rows} more (--max-rows 0 prints all)")
        if self.labels is not None:
            out.append(f"accuracy: {(self.class_ids == self.labels).mean():.4f} on {len(self.labels)} examples")
        return out


def write_jsonl(predictions, path: str | os.PathLike) -> int:
    """Writes `predictions.records()` (a classifier's or a tagger's), one JSON object a line (atomically);
    returns the number of lines."""
    import json

    from tfmodels.files import atomic_write_text

    rows = predictions.records()
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return len(rows)


def load_saved_model(export_dir):
    """`tf.saved_model.load` of an export, or one line saying why it cannot be read."""
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ExportError(f"'{export_dir}' is not a SavedModel folder (no saved_model.pb); "
                          "give a folder that `tfmodels export` wrote")
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops a text model's SavedModel uses)
    from google.protobuf.message import DecodeError

    try:
        loaded = tf.saved_model.load(str(export_dir))
    except (DecodeError, OSError, ValueError, tf.errors.OpError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ExportError(f"'{export_dir}' is a damaged or unreadable SavedModel ({reason}); "
                          "export the run again with tfmodels export") from None
    if "serving_default" not in loaded.signatures:
        raise ExportError(f"'{export_dir}' has no serving_default signature")
    return loaded


class ServingModel:
    """A SavedModel's `serving_default`, holding on to the loaded object while it is used."""

    def __init__(self, export_dir: str | os.PathLike):
        self._loaded = load_saved_model(export_dir)  # keep: the signature needs it alive
        if "serving_default" not in self._loaded.signatures:
            raise ExportError(f"'{export_dir}' has no serving_default signature")
        if "translate" in self._loaded.signatures:
            raise ExportError(f"'{export_dir}' is an encoder-decoder, not a classifier: `tfmodels translate "
                              f"{export_dir} TEXT` (or tfmodels.load(...).translate) gives its outputs")
        self._fn = self._loaded.signatures["serving_default"]
        inputs = self._fn.structured_input_signature[1]
        self.pair_name = _export_info(export_dir).get("input", {}).get("pair")  # a sentence-pair model's second input
        if self.pair_name in inputs and len(inputs) == 2:
            (self.input_name,) = set(inputs) - {self.pair_name}
            self.input_spec = inputs[self.input_name]
        else:
            ((self.input_name, self.input_spec),) = inputs.items()
            self.pair_name = None
        outputs = set(self._fn.structured_outputs)
        if "class_id" not in outputs:
            raise ExportError(f"'{export_dir}' is not a classifier (its outputs: {', '.join(sorted(outputs))}); "
                              "predict gives classes: call its serving_default with TensorFlow to get these")
        self.class_names = _export_class_names(export_dir)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input_spec.shape[1:])

    @property
    def takes_text(self) -> bool:
        return self.input_spec.dtype == tf.string

    @property
    def takes_pairs(self) -> bool:
        return self.pair_name is not None

    def __call__(self, inputs, batch_size: int = 512) -> dict:
        """`inputs`: pixels, texts, or (for a pair model) texts of the form "first<TAB>second"."""
        if self.takes_text:
            if len(inputs) == 0:
                raise DataError("the input holds no examples")
            inputs = np.asarray([str(t) for t in inputs], dtype=object)
        else:
            inputs = self._conform(inputs)
        if self.takes_pairs:
            columns = split_pairs(list(inputs))
            feeds = lambda i: {self.input_name: tf.constant(columns[0][i:i + batch_size]),  # noqa: E731
                               self.pair_name: tf.constant(columns[1][i:i + batch_size])}
        else:
            feeds = lambda i: {self.input_name: tf.constant(inputs[i:i + batch_size])}  # noqa: E731
        outputs = [self._fn(**feeds(i)) for i in range(0, len(inputs), batch_size)]
        return {key: np.concatenate([o[key].numpy() for o in outputs]) for key in outputs[0]}

    def _conform(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels, dtype=np.float32)
        if len(pixels) == 0:
            raise DataError("the input holds no examples")
        shape = self.input_shape
        if pixels.shape[1:] != shape:
            if int(np.prod(pixels.shape[1:])) != int(np.prod(shape)):
                raise DataError(f"the model takes inputs of shape {list(shape)}, the input has {list(pixels.shape[1:])}")
            pixels = pixels.reshape((-1, *shape))
        return pixels


def read_inputs(text: str, input_shape: tuple[int, ...],
                class_names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels in [0, 1] and, where the input has them, labels (class names: the model's ids)."""
    suffix = os.path.splitext(text)[1].lower()
    if os.path.isfile(text) and suffix in IMAGE_SUFFIXES:
        return _read_image(text, input_shape)[None], None
    if os.path.isfile(text):
        if suffix not in TABLE_KINDS:
            raise DataError(f"'{text}': unknown file type; use a data spec such as csv:{text} or an image file")
        text = f"{TABLE_KINDS[suffix]}:{text}"
    images = load_images(text, "test")
    if images.label_names is not None:
        from tfmodels.data.examples import assign_class_ids

        assign_class_ids({"input": images}, class_names, where="predict")
    return images.scaled(), images.labels


def _read_image(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    if len(input_shape) != 2:
        raise DataError(f"the model takes inputs of shape {list(input_shape)}, not images")
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)
    except tf.errors.OpError as e:
        raise DataError(f"'{path}' cannot be decoded as an image: {e.message}") from None
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, input_shape)  # (H, W, 1) in [0, 1]
    return image.numpy()[..., 0]


PATH_SUFFIXES = (".txt", ".tsv", ".csv", ".gz", ".tgz", ".tar", ".json", ".jsonl", ".text")


def _export_info(export_dir) -> dict:
    from tfmodels.files import read_json

    try:
        return read_json(os.path.join(export_dir, "tfmodels_export.json"))
    except (OSError, ValueError):
        return {}


def _export_class_names(export_dir) -> list[str] | None:
    return _export_info(export_dir).get("class_names")


PAIR_SEPARATOR = "\t"  # a sentence pair given as one text: "first<TAB>second"


def split_pairs(texts: list[str]) -> tuple[list[str], list[str]]:
    """"first<TAB>second" texts -> (firsts, seconds), for a sentence-pair model."""
    firsts, seconds = [], []
    for text in texts:
        first, tab, second = text.partition(PAIR_SEPARATOR)
        if not tab or not first.strip() or not second.strip():
            raise DataError(f"this model reads sentence pairs: give each as 'first<TAB>second' (a tab between), or "
                            f"a tsv: spec with two text columns; got {text[:60]!r}")
        firsts.append(first.strip())
        seconds.append(second.strip())
    return firsts, seconds


def read_text_inputs(argument: str, class_names: list[str] | None = None,
                     as_text: bool = False, pairs: bool = False) -> tuple[list[str], np.ndarray | None]:
    """Texts (and labels, from a labelled data spec) from a spec, a file of lines, or the text itself.
    Pairs (`pairs=True`) come as "first<TAB>second": a spec's last two columns (or its `text_column=`)."""
    from tfmodels.config import TextTableOptions
    from tfmodels.data.specs import TEXT_KINDS
    from tfmodels.data.text import assign_class_ids, load_text, read_lines_or_text

    if as_text:
        texts = [argument]
    else:
        try:
            spec = parse_spec(argument)
        except DataError:
            spec = None
        if spec is not None and spec.kind in TEXT_KINDS and not os.path.exists(argument):
            options = TextTableOptions(text_column=[-2, -1]) if pairs else None
            texts = load_text(spec, "test", options, labelled=False)
            if texts.label_names is not None:  # labelled by name: the names of the exported model
                assign_class_ids({"input": texts}, class_names, where="predict")
            if texts.pairs:
                return [f"{a}{PAIR_SEPARATOR}{b}" for a, b in zip(texts.texts, texts.second)], texts.labels
            return texts.texts, texts.labels
        if os.path.isdir(argument):
            raise DataError(f"'{argument}' is a folder; give a file (one text a line), a data spec such as "
                            f"dir:{argument}, or --text to classify the words themselves")
        if not os.path.isfile(argument) and argument.strip().lower().endswith(PATH_SUFFIXES):
            raise DataError(f"'{argument}' looks like a file name, but there is no such file; check the path, "
                            "or pass --text to classify it as text")
        texts = read_lines_or_text(argument)
    if not texts or not all(t.strip() for t in texts):
        where = f"'{argument}' holds no text" if os.path.isfile(argument) else "an input is empty"
        raise DataError(f"{where}: there is nothing to classify")
    return texts, None


def predict(export_dir, arguments: list[str], as_text: bool = False, predicate: int | None = None):
    """Runs the SavedModel on every input argument (see the module's docstring for what they can be):
    `Predictions` of a classifier, `TagPredictions` of a token classifier (tfmodels/verbs/predict_tags.py),
    `AnswerPredictions` of a question answerer (tfmodels/verbs/predict_qa.py)."""
    info = _export_info(export_dir)
    if "tags" in info.get("outputs", {}):  # a token classifier's export: words and their tags
        from tfmodels.verbs.predict_tags import predict_tags

        return predict_tags(load_saved_model(export_dir), info, arguments, as_text, predicate)
    if predicate is not None:
        raise DataError("--predicate is for semantic-role models; this export is not one")
    if "answer" in info.get("outputs", {}):  # a question answerer's export: answers as spans of the context
        from tfmodels.verbs.predict_qa import predict_answers

        return predict_answers(load_saved_model(export_dir), info, arguments, as_text)
    model = ServingModel(export_dir)
    inputs, labels, texts = [], [], None
    for argument in arguments:
        if model.takes_text:
            values, argument_labels = read_text_inputs(argument, model.class_names, as_text, model.takes_pairs)
        else:
            values, argument_labels = read_inputs(argument, model.input_shape, model.class_names)
        inputs.append(np.asarray(values, dtype=object if model.takes_text else np.float32))
        labels.append(argument_labels)
    batch = np.concatenate(inputs) if inputs else np.zeros((0,))
    if model.takes_text:
        texts = [str(t) for t in batch]
    outputs = model(batch)
    class_ids = outputs["class_id"].astype(np.int64)
    names = [n.decode("utf-8") for n in outputs["class_name"]]
    known = labels if all(lab is not None for lab in labels) else None
    probabilities = outputs["probabilities"]
    return Predictions(class_ids, probabilities[np.arange(len(class_ids)), class_ids],
                       np.concatenate(known) if known else None, names, texts, probabilities,
                       model.class_names or [str(c) for c in range(probabilities.shape[1])])
