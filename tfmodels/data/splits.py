"""The train / validation / test sets a `DataConfig` names, checked against each other."""

from __future__ import annotations

from tfmodels.config import DataConfig
from tfmodels.data.images import ImageSet, check_labels, load_images, split_off
from tfmodels.errors import DataError


def load_splits(config: DataConfig) -> dict[str, ImageSet]:
    """Returns {"train", "validation"[, "test"]}; validation is carved from train when not given."""
    train = _load(config.train, "train", config)
    if config.validation:
        validation = _load(config.validation, "validation", config)
    else:
        if not 0.0 < config.validation_fraction < 1.0:
            raise DataError(f"data.validation_fraction must be between 0 and 1 (exclusive), got "
                            f"{config.validation_fraction}; or give data.validation a spec")
        train, validation = split_off(train, config.validation_fraction)
    splits = {"train": train, "validation": validation}
    if config.test:
        splits["test"] = _load(config.test, "test", config)
    for role, images in splits.items():
        if images.image_shape != train.image_shape:
            raise DataError(
                f"data.{role} ('{images.source}') has images of shape {list(images.image_shape)}, "
                f"but data.train has {list(train.image_shape)}; they must match"
            )
    return splits


def infer_num_classes(splits: dict[str, ImageSet], num_classes: int | None) -> int:
    """The configured class count, or the largest training label + 1; checks every label against it."""
    if num_classes is None:
        num_classes = int(splits["train"].labels.max()) + 1
    if num_classes < 2:
        raise DataError(
            f"data.train ('{splits['train'].source}') has labels of only {num_classes} class; a classifier needs two or more"
        )
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
