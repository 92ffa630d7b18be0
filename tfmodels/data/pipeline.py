"""tf.data pipelines over an `ImageSet`: order, batch, scale, augment, prefetch."""

from __future__ import annotations

import tensorflow as tf

from tfmodels.config import AugmentConfig
from tfmodels.data.images import ImageSet
from tfmodels.data.order import training_batches
from tfmodels.errors import DataError


def image_dataset(
    images: ImageSet,
    global_batch_size: int,
    training: bool,
    seed: int,
    cache: bool = True,
    augment: AugmentConfig | None = None,
    epochs: int = 1,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """Batches of (pixels in [0, 1], label).

    Training: full batches for epochs first_epoch .. epochs - 1 in one stream, each epoch in an
    order drawn from (seed, epoch) (`tfmodels.data.order`), augmented when asked. Evaluation:
    every example once, in order.
    """
    if training and len(images) < global_batch_size:
        raise DataError(
            f"the training set ('{images.source}') has {len(images)} examples, fewer than one batch of "
            f"{global_batch_size}; lower trainer.batch_size"
        )
    value_max = images.value_max
    if training:
        ds = training_batches((images.pixels, images.labels), global_batch_size, seed, epochs, first_epoch)
        ds = ds.map(lambda x, y: (x / value_max, y), num_parallel_calls=tf.data.AUTOTUNE)  # raw -> [0, 1]
        if augment is not None and augment.enabled:
            ds = ds.map(_augmenter(augment, images.image_shape, seed), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)
    ds = tf.data.Dataset.from_tensor_slices((images.pixels, images.labels))
    ds = ds.map(lambda x, y: (x / value_max, y), num_parallel_calls=tf.data.AUTOTUNE)  # raw -> [0, 1]
    if cache:
        ds = ds.cache()
    return ds.batch(global_batch_size).prefetch(tf.data.AUTOTUNE)


def _augmenter(augment: AugmentConfig, image_shape: tuple[int, ...], seed: int):
    import keras

    if len(image_shape) != 2:
        raise DataError(
            f"data.augment needs 2-D images, but the images have shape {list(image_shape)}; "
            "set data.table.image_shape (e.g. [28, 28]) or turn augmentation off"
        )
    layers = keras.Sequential(
        [
            keras.layers.RandomRotation(augment.rotation, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(augment.shift, augment.shift, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom(augment.zoom, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )

    def apply(x, y):
        x = layers(x[..., None], training=True)[..., 0]  # (B, H, W) -> (B, H, W, 1) -> (B, H, W)
        return tf.clip_by_value(x, 0.0, 1.0), y

    return apply
