"""Predicting with an exported SavedModel, loaded with TensorFlow alone (no tfmodels classes).

INPUT is a data spec (`digits?split=test`, `csv:PATH`, `idx:PREFIX`, `npz:PATH`, `tfds:NAME`),
a table file (`.csv`, `.csv.gz`, `.npz`), or an image file (`.png`, `.jpg`, `.bmp`, `.gif`),
which is read as grayscale, resized to the model's input shape, and scaled from 0..255 to [0, 1].
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.data.images import load_images
from tfmodels.errors import DataError, ExportError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
TABLE_KINDS = {".csv": "csv", ".gz": "csv", ".npz": "npz"}


@dataclass
class Predictions:
    class_ids: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N,) probability of the predicted class
    labels: np.ndarray | None  # (N,) true labels when the input has them


class ServingModel:
    """A SavedModel's `serving_default`, holding on to the loaded object while it is used."""

    def __init__(self, export_dir: str | os.PathLike):
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise ExportError(f"'{export_dir}' is not a SavedModel folder (no saved_model.pb); "
                              "give a folder that `tfmodels export` wrote")
        self._loaded = tf.saved_model.load(str(export_dir))  # keep: the signature needs it alive
        if "serving_default" not in self._loaded.signatures:
            raise ExportError(f"'{export_dir}' has no serving_default signature")
        self._fn = self._loaded.signatures["serving_default"]
        ((self.input_name, self.input_spec),) = self._fn.structured_input_signature[1].items()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input_spec.shape[1:])

    def __call__(self, pixels: np.ndarray, batch_size: int = 512) -> dict:
        pixels = self._conform(pixels)
        outputs = [self._fn(**{self.input_name: tf.constant(pixels[i:i + batch_size])})
                   for i in range(0, len(pixels), batch_size)]
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


def read_inputs(text: str, input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels in [0, 1] and, where the input has them, labels."""
    suffix = os.path.splitext(text)[1].lower()
    if os.path.isfile(text) and suffix in IMAGE_SUFFIXES:
        return _read_image(text, input_shape)[None], None
    if os.path.isfile(text):
        if suffix not in TABLE_KINDS:
            raise DataError(f"'{text}': unknown file type; use a data spec such as csv:{text} or an image file")
        text = f"{TABLE_KINDS[suffix]}:{text}"
    images = load_images(text, "test")
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


def predict(export_dir, text: str) -> Predictions:
    model = ServingModel(export_dir)
    pixels, labels = read_inputs(text, model.input_shape)
    outputs = model(pixels)
    class_ids = outputs["class_id"].astype(np.int64)
    return Predictions(class_ids, outputs["probabilities"][np.arange(len(class_ids)), class_ids], labels)
