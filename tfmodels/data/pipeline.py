"""tf.data pipelines over an `ImageSet`: order, batch, scale, augment, prefetch."""

from __future__ import annotations

import numpy as np
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
            augment_batch = _augmenter(augment, images.image_shape, seed)
            ds = ds.enumerate(start=first_epoch * (len(images) // global_batch_size))  # (global step, batch)
            ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)
    ds = tf.data.Dataset.from_tensor_slices((images.pixels, images.labels))
    ds = ds.map(lambda x, y: (x / value_max, y), num_parallel_calls=tf.data.AUTOTUNE)  # raw -> [0, 1]
    if cache:
        ds = ds.cache()
    return ds.batch(global_batch_size).prefetch(tf.data.AUTOTUNE)


def _augmenter(augment: AugmentConfig, image_shape: tuple[int, ...], seed: int):
    """`(step, (images, labels)) -> (images, labels)`: each image rotated, shifted and zoomed at random, and
    mirrored left-right half the time when `augment.flip`.

    The ranges are those of Keras's RandomRotation / RandomTranslation / RandomZoom (a fraction of a
    turn, of the size, of the scale), combined into one affine map and drawn from (seed, step) with
    stateless ops (a mirror is the map's x scaled by -1). Keras's layers draw from a SeedGenerator whose
    state lives in the input pipeline, where no backup reaches it: a resumed run would augment differently
    from one never stopped. Grey images are (H, W), colour ones (H, W, C): every channel moves alike.
    """
    import keras

    if len(image_shape) not in (2, 3):
        raise DataError(
            f"data.augment needs 2-D images (grey, or with channels last), but the images have shape "
            f"{list(image_shape)}; set data.table.image_shape (e.g. [28, 28]) or turn augmentation off"
        )
    height, width = image_shape[:2]
    grey = len(image_shape) == 2
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0

    def apply(step, batch):
        x, y = batch  # (B, H, W[, C]), (B,)
        step_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, 2], tf.int64), step)
        draws = tf.random.stateless_uniform((tf.shape(x)[0], 5), step_seed, minval=-1.0, maxval=1.0)  # (B, 5)
        angle = draws[:, 0] * augment.rotation * 2.0 * np.pi
        scale = 1.0 + draws[:, 1] * augment.zoom  # > 1 reads a larger patch: zooms out
        shift_x, shift_y = draws[:, 2] * augment.shift * width, draws[:, 3] * augment.shift * height
        mirror = tf.where(draws[:, 4] < 0.0, -1.0, 1.0) if augment.flip else tf.ones_like(angle)  # (B,)
        # Output pixel (u, v) reads input (a0 u + a1 v + a2, b0 u + b1 v + b2): mirror, rotate and scale about
        # the centre.
        a0, a1 = mirror * scale * tf.cos(angle), -scale * tf.sin(angle)
        b0, b1 = mirror * scale * tf.sin(angle), scale * tf.cos(angle)
        a2 = cx - a0 * cx - a1 * cy - shift_x
        b2 = cy - b0 * cx - b1 * cy - shift_y
        zeros = tf.zeros_like(a0)
        transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1)  # (B, 8)
        moved = keras.ops.image.affine_transform(x[..., None] if grey else x, transform, interpolation="bilinear",
                                                 fill_mode="constant", data_format="channels_last")
        return tf.clip_by_value(moved[..., 0] if grey else moved, 0.0, 1.0), y

    return apply
