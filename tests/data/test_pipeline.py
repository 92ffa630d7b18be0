import numpy as np
import pytest

from tfmodels.config import AugmentConfig
from tfmodels.data.images import ImageSet, load_images
from tfmodels.data.pipeline import image_dataset
from tfmodels.errors import DataError


def small_set(n=10):
    pixels = np.arange(n * 16, dtype=np.float32).reshape(n, 4, 4) % 17
    return ImageSet(pixels, np.arange(n, dtype=np.int32) % 3, 16.0, "test")


def test_training_batches_are_full_scaled_and_seeded():
    images = small_set(10)
    batches = list(image_dataset(images, 4, training=True, seed=7).as_numpy_iterator())
    assert [len(y) for _, y in batches] == [4, 4]  # drop_remainder: static shapes
    x = np.concatenate([b[0] for b in batches])
    assert x.min() >= 0.0 and x.max() <= 1.0
    again = list(image_dataset(images, 4, training=True, seed=7).as_numpy_iterator())
    np.testing.assert_array_equal(batches[0][1], again[0][1])


def test_evaluation_sees_every_example_in_order():
    images = small_set(10)
    ys = np.concatenate([y for _, y in image_dataset(images, 4, training=False, seed=0).as_numpy_iterator()])
    np.testing.assert_array_equal(ys, images.labels)


def test_element_spec_is_static_for_training():
    ds = image_dataset(load_images("digits", "train"), 32, training=True, seed=0)
    x_spec, y_spec = ds.element_spec
    assert x_spec.shape.as_list() == [32, 8, 8] and y_spec.shape.as_list() == [32]


def test_augmentation_changes_pixels_but_not_shape_or_range():
    images = load_images("digits", "train")
    plain = next(image_dataset(images, 64, training=True, seed=3).as_numpy_iterator())
    augmented = next(image_dataset(images, 64, training=True, seed=3,
                                   augment=AugmentConfig(enabled=True, rotation=0.1, shift=0.2, zoom=0.2)).as_numpy_iterator())
    np.testing.assert_array_equal(plain[1], augmented[1])  # same examples, same order
    assert augmented[0].shape == plain[0].shape
    assert augmented[0].min() >= 0.0 and augmented[0].max() <= 1.0
    assert np.abs(augmented[0] - plain[0]).mean() > 0.01


def test_augmentation_with_no_range_is_the_identity_and_resumes_alike():
    """Zero ranges leave the pixels as they are (the affine map is right about the centre); epoch 1's
    augmented batches are the same from a stream started at epoch 0 and from one started at 1."""
    images = load_images("digits", "train")
    plain = next(image_dataset(images, 64, training=True, seed=3).as_numpy_iterator())
    still = next(image_dataset(images, 64, training=True, seed=3,
                               augment=AugmentConfig(enabled=True, rotation=0.0, shift=0.0, zoom=0.0)).as_numpy_iterator())
    np.testing.assert_allclose(still[0], plain[0], atol=1e-6)
    augment = AugmentConfig(enabled=True, rotation=0.1, shift=0.1, zoom=0.1)
    steps = len(images) // 64
    whole = list(image_dataset(images, 64, training=True, seed=3, augment=augment, epochs=2).as_numpy_iterator())
    resumed = list(image_dataset(images, 64, training=True, seed=3, augment=augment, epochs=2,
                                 first_epoch=1).as_numpy_iterator())
    assert len(resumed) == steps
    for (x, y), (x2, y2) in zip(whole[steps:], resumed):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


def test_augmentation_needs_2d_images():
    flat = ImageSet(np.zeros((8, 16), np.float32), np.zeros(8, np.int32), 1.0, "flat")
    with pytest.raises(DataError, match="data.augment needs 2-D images"):
        image_dataset(flat, 4, training=True, seed=0, augment=AugmentConfig(enabled=True))


def test_training_set_smaller_than_a_batch():
    with pytest.raises(DataError, match="has 10 examples, fewer than one batch of 64; lower trainer.batch_size"):
        image_dataset(small_set(10), 64, training=True, seed=0)


def test_each_epoch_is_a_permutation_of_its_own_and_a_resume_continues_it():
    """Epoch e's order depends on (seed, e) alone: a stream started at epoch 2 equals epochs 2.. of the full one."""
    from tfmodels.data.order import epoch_order, training_batches

    n, batch = 10, 4
    full = [y for (y,) in training_batches((np.arange(n),), batch, seed=5, epochs=4).as_numpy_iterator()]
    assert len(full) == 4 * (n // batch) and all(len(y) == batch for y in full)
    epochs = [np.concatenate(full[i:i + 2]) for i in range(0, 8, 2)]
    for e, seen in enumerate(epochs):
        assert len(set(seen)) == 2 * batch  # no example twice in an epoch
        np.testing.assert_array_equal(seen, epoch_order(n, 5, e)[:2 * batch])
    assert not np.array_equal(epochs[0], epochs[1])  # a new order every epoch
    resumed = [y for (y,) in training_batches((np.arange(n),), batch, seed=5, epochs=4, first_epoch=2).as_numpy_iterator()]
    np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(full[4:]))
    other_seed = [y for (y,) in training_batches((np.arange(n),), batch, seed=6, epochs=1).as_numpy_iterator()]
    assert not np.array_equal(np.concatenate(other_seed), epochs[0])


def test_colour_images_are_augmented_alike_in_every_channel_and_mirrored_when_asked():
    """Flip alone (no rotation, shift or zoom): each image comes out as it was or mirrored left-right, exactly,
    both happen, and every channel moves with the others."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (64, 6, 5, 3)).astype(np.float32)
    images = ImageSet(pixels, np.zeros(64, np.int32), 255.0, "colour")
    flip = AugmentConfig(enabled=True, rotation=0.0, shift=0.0, zoom=0.0, flip=True)
    batches = list(image_dataset(images, 64, training=True, seed=1, augment=flip).as_numpy_iterator())
    x = batches[0][0]
    assert x.shape == (64, 6, 5, 3)
    from tfmodels.data.order import epoch_order

    originals = pixels[epoch_order(64, 1, 0)[:64]] / 255.0
    same = [np.allclose(a, b, atol=1e-5) for a, b in zip(x, originals)]
    mirrored = [np.allclose(a, b[:, ::-1], atol=1e-5) for a, b in zip(x, originals)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 10 < sum(mirrored) < 54  # about half
    moved = list(image_dataset(images, 64, training=True, seed=1, augment=AugmentConfig(enabled=True, shift=0.3))
                 .as_numpy_iterator())[0][0]
    assert moved.shape == (64, 6, 5, 3) and 0.0 <= moved.min() and moved.max() <= 1.0
    assert not np.allclose(moved, originals)
