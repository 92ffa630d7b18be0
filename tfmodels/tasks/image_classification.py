"""Image classification: pixels in [0, 1] -> class."""

from __future__ import annotations

import tensorflow as tf

from tfmodels.data.images import check_labels, load_images
from tfmodels.data.pipeline import image_dataset
from tfmodels.data.splits import infer_num_classes, load_splits
from tfmodels.errors import DataError
from tfmodels.models import build_image_model
from tfmodels.tasks.base import Task


class ImageClassification(Task):
    input_name = "pixels"

    def load(self) -> None:
        """Loads and checks train/validation/test; sets `splits` and `num_classes`."""
        self.splits = load_splits(self.config.data)
        self.num_classes = infer_num_classes(self.splits, self.config.model.num_classes)

    def datasets(self, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        data = self.config.data
        train = image_dataset(self.splits["train"], global_batch, training=True, seed=seed, augment=data.augment,
                              epochs=epochs, first_epoch=first_epoch)
        evaluation = {role: image_dataset(images, global_batch, training=False, seed=seed, cache=data.cache)
                      for role, images in self.splits.items() if role != "train"}
        return train, evaluation

    def build_model(self):
        return build_image_model(self.config.model, self.splits["train"].scaled(), self.num_classes)

    def data_info(self) -> dict:
        return {
            "task": "image_classification",
            "input": {"name": self.input_name, "shape": list(self.splits["train"].image_shape), "dtype": "float32",
                      "range": [0.0, 1.0]},
            "num_classes": self.num_classes,
            "class_names": [str(i) for i in range(self.num_classes)],
            "value_max": {role: images.value_max for role, images in self.splits.items()},
            "examples": {role: len(images) for role, images in self.splits.items()},
            "sources": {role: images.source for role, images in self.splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, run_dir, info: dict, data_spec: str | None, split: str | None):
        """(model inputs, labels, name, source) for `evaluate`."""
        if data_spec:
            images, name = load_images(data_spec, split or "test", self.config.data.table), split or "data"
        else:
            splits = load_splits(self.config.data)
            name = split or ("test" if "test" in splits else "validation")
            if name not in splits:
                raise DataError(f"this run has no '{name}' set (its splits: {', '.join(splits)}); "
                                "pass --split with one of them, or --data SPEC")
            images = splits[name]
        expected = tuple(info["input"]["shape"])
        if images.image_shape != expected:
            raise DataError(f"'{images.source}' has images of shape {list(images.image_shape)}, "
                            f"but the model takes {list(expected)}")
        check_labels(images, info["num_classes"], f"evaluation data '{name}'")
        return images.scaled(), images.labels, name, images.source


def serving_function(model, run_dir, info: dict):
    """(fn, input signature) of the SavedModel: pixels in [0, 1] -> probabilities, class ids."""
    spec = tf.TensorSpec((None, *info["input"]["shape"]), tf.float32, name=info["input"]["name"])

    def serve(pixels):
        return model(pixels, training=False)

    return serve, spec

