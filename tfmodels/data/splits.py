"""The image train / validation / test sets a `DataConfig` names, checked against each other."""

from __future__ import annotations

from tfmodels.config import DataConfig
from tfmodels.data.examples import assign_class_ids, check_labels, number_of_classes, train_and_validation
from tfmodels.data.images import ImageSet, load_images
from tfmodels.errors import DataError


def load_splits(config: DataConfig) -> dict[str, ImageSet]:
    """Returns {"train", "validation"[, "test"]}; validation is carved from train when not given."""
    load = lambda spec, role: _load(spec, role, config)  # noqa: E731
    train, validation = train_and_validation(load, config.train, config.validation, config.validation_fraction,
                                             config.folds)
    splits = {"train": train, "validation": validation}
    if config.test:
        splits["test"] = load(config.test, "test")
    names = assign_class_ids(splits)  # labels that are class names: the training set's ids in every split
    for images in splits.values():
        images.class_names = names or images.class_names
    for role, images in splits.items():
        if images.image_shape != train.image_shape:
            raise DataError(
                f"data.{role} ('{images.source}') has images of shape {list(images.image_shape)}, "
                f"but data.train has {list(train.image_shape)}; they must match"
            )
    return splits


def infer_num_classes(splits: dict[str, ImageSet], num_classes: int | None) -> int:
    """The configured class count, or the largest training label + 1; checks every label against it."""
    num_classes = number_of_classes(splits["train"], num_classes)
    for role, images in splits.items():
        check_labels(images, num_classes, f"data.{role}")
    return num_classes


def _load(spec, role: str, config: DataConfig) -> ImageSet:
    if not isinstance(spec, str):
        raise DataError(f"data.{role} takes one data spec for images, got a list: {spec}")
    try:
        return load_images(spec, role, config.table)
    except DataError as e:
        raise DataError(f"data.{role}: {e}") from None
