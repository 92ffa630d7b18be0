"""tf.data pipelines over an `ImageSet`: scale, cache, shuffle, batch, augment, prefetch."""

from __future__ import annotations

import tensorflow as tf

from tfmodels.config import AugmentConfig
from tfmodels.data.images import ImageSet
from tfmodels.errors import DataError


def image_dataset(
    images: ImageSet,
    global_batch_size: int,
    training: bool,
    seed: int,
    cache: bool = True,
    shuffle_buffer: int = 10_000,
    augment: AugmentConfig | None = None,
) -> tf.data.Dataset:
    """Batches of (pixels in [0, 1], label). Training batches are shuffled, full, and augmented."""
    if training and len(images) < global_batch_size:
        raise DataError(
            f"the training set ('{images.source}') has {len(images)} examples, fewer than one batch of "
            f"{global_batch_size}; lower trainer.batch_size"
        )
    value_max = images.value_max
    ds = tf.data.Dataset.from_tensor_slices((images.pixels, images.labels))
    ds = ds.map(lambda x, y: (x / value_max, y), num_parallel_calls=tf.data.AUTOTUNE)  # raw -> [0, 1]
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(shuffle_buffer, len(images)), seed=seed, reshuffle_each_iteration=True)
    # Full training batches keep shapes static (TPUs need them); evaluation sees every example.
    ds = ds.batch(global_batch_size, drop_remainder=training)
    if training and augment is not None and augment.enabled:
        ds = ds.map(_augmenter(augment, images.image_shape, seed), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


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
