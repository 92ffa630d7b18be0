"""Image classification: pixels in [0, 1] -> class."""

from __future__ import annotations

import tensorflow as tf

from tfmodels.data.examples import assign_class_ids, check_labels
from tfmodels.data.images import load_images
from tfmodels.data.pipeline import image_dataset
from tfmodels.data.splits import infer_num_classes, load_splits
from tfmodels.errors import DataError
from tfmodels.models import build_image_model
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import Serving, Task, TaskData, pick_split


class ImageClassification(Task):
    input_name = "pixels"

    def load(self) -> dict:
        """Train/validation/test, shapes matched and labels checked against the class count."""
        splits = load_splits(self.config.data)
        infer_num_classes(splits, self.config.model.num_classes)
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        return TaskData(splits, infer_num_classes(splits, self.config.model.num_classes),
                        train_examples=len(splits["train"]))

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        config = self.config.data
        train = image_dataset(data.splits["train"], global_batch, training=True, seed=seed, augment=config.augment,
                              epochs=epochs, first_epoch=first_epoch)
        evaluation = {role: image_dataset(images, global_batch, training=False, seed=seed, cache=config.cache)
                      for role, images in data.splits.items() if role != "train"}
        return train, evaluation

    def build_model(self, data: TaskData):
        return build_image_model(self.config.model, data.splits["train"].scaled(), data.num_classes)

    def data_info(self, data: TaskData) -> dict:
        splits = data.splits
        return {
            "task": "image_classification",
            "input": {"name": self.input_name, "shape": list(splits["train"].image_shape), "dtype": "float32",
                      "range": [0.0, 1.0]},
            "num_classes": data.num_classes,
            "class_names": (list(splits["train"].class_names) if len(splits["train"].class_names) == data.num_classes
                            else [str(i) for i in range(data.num_classes)]),
            "value_max": {role: images.value_max for role, images in splits.items()},
            "examples": {role: len(images) for role, images in splits.items()},
            "sources": {role: images.source for role, images in splits.items()},
        }

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_data(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        if data_spec:
            images, name = load_images(data_spec, split or "test", self.config.data.table), split or "data"
            assign_class_ids({name: images}, info.get("class_names"), where="evaluation data")
        else:
            splits = load_splits(self.config.data)
            name, images = pick_split(splits, split)
        expected = tuple(info["input"]["shape"])
        if images.image_shape != expected:
            raise DataError(f"'{images.source}' has images of shape {list(images.image_shape)}, "
                            f"but the model takes {list(expected)}")
        check_labels(images, info["num_classes"], f"evaluation data '{name}'")
        return images.scaled(), images.labels, name, images.source

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """Pixels in [0, 1] of the run's image shape -> logits."""

        def logits(pixels):
            return model(pixels, training=False)

        return Serving(logits, tf.TensorSpec((None, *info["input"]["shape"]), tf.float32, name=info["input"]["name"]))
