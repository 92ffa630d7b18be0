"""Colour (and grey) images read from folders of class folders and from tar.gz archives without unpacking
(`dir:`), the shared CIFAR-10 archive whole, and each bad input's one line."""

import tarfile

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.data.images import load_images
from tfmodels.errors import DataError

RNG = np.random.default_rng(0)


def write_image(path, pixels, fmt="png"):
    data = tf.io.encode_png(pixels) if fmt == "png" else tf.io.encode_jpeg(pixels, quality=95)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.numpy())


def image_folder(root, classes=("cat", "dog"), per_class=3, shape=(6, 5, 3)):
    images = {}
    for name in classes:
        for i in range(per_class):
            pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
            write_image(root / name / f"{i}.png", pixels)
            images[(name, i)] = pixels
    return images


def test_a_folder_of_colour_pngs_reads_exactly(tmp_path):
    written = image_folder(tmp_path / "train")
    images = load_images(f"dir:{tmp_path / 'train'}", "train")
    assert images.pixels.shape == (6, 6, 5, 3) and images.value_max == 255.0
    assert images.label_names == ["cat"] * 3 + ["dog"] * 3 and images.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(images.pixels[4], written[("dog", 1)])  # PNG is lossless


def test_an_archive_reads_as_the_folder_it_packs(tmp_path):
    image_folder(tmp_path / "data" / "train", shape=(4, 4, 3))
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "data", arcname=".")
    from_archive = load_images(f"dir:{archive}?root=train", "train")
    from_folder = load_images(f"dir:{tmp_path / 'data' / 'train'}", "train")
    np.testing.assert_array_equal(from_archive.pixels, from_folder.pixels)
    assert from_archive.label_names == from_folder.label_names


def test_grey_images_are_h_by_w_and_jpeg_is_read(tmp_path):
    for name in ("a", "b"):
        write_image(tmp_path / name / "x.jpg", np.full((8, 8, 1), 100 if name == "a" else 200, np.uint8), fmt="jpeg")
    images = load_images(f"dir:{tmp_path}", "train")
    assert images.pixels.shape == (2, 8, 8)
    assert abs(float(images.pixels[0].mean()) - 100) < 2 and abs(float(images.pixels[1].mean()) - 200) < 2


def test_mixed_sizes_are_refused_naming_both_or_resized_when_asked(tmp_path):
    write_image(tmp_path / "a" / "big.png", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    write_image(tmp_path / "b" / "small.png", RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    with pytest.raises(DataError) as error:
        load_images(f"dir:{tmp_path}", "train")
    assert str(error.value) == (f"'{tmp_path / 'b' / 'small.png'}' is 4x6 with 3 channels but '{tmp_path / 'a' / 'big.png'}' "
                                "is 8x8 with 3 channels: images of one data set must match (refused, not resized); "
                                "?image_shape=H,W resizes all to one size")
    resized = load_images(f"dir:{tmp_path}?image_shape=4,4", "train")
    assert resized.pixels.shape == (2, 4, 4, 3)


def test_mixed_channels_are_refused_or_read_alike(tmp_path):
    write_image(tmp_path / "a" / "colour.png", RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    write_image(tmp_path / "b" / "grey.png", RNG.integers(0, 256, (4, 4, 1), dtype=np.uint8))
    with pytest.raises(DataError, match=r"grey.png' is 4x4 with 1 channel but .*colour.png' is 4x4 with 3 channels: .*"
                                        r"\?channels=3 \(or 1\) reads all alike"):
        load_images(f"dir:{tmp_path}", "train")
    assert load_images(f"dir:{tmp_path}?channels=3", "train").pixels.shape == (2, 4, 4, 3)
    assert load_images(f"dir:{tmp_path}?channels=1", "train").pixels.shape == (2, 4, 4)


def test_a_corrupt_jpeg_is_named(tmp_path):
    image_folder(tmp_path, per_class=1, shape=(4, 4, 3))
    good = tf.io.encode_jpeg(np.zeros((4, 4, 3), np.uint8)).numpy()
    (tmp_path / "dog" / "broken.jpg").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"^'.*dog/broken.jpg' is not a readable image \(JPEG, PNG, GIF or BMP\)"):
        load_images(f"dir:{tmp_path}", "train")


def test_an_empty_class_folder_is_named(tmp_path):
    image_folder(tmp_path, per_class=1, shape=(4, 4, 3))
    (tmp_path / "emu").mkdir()
    with pytest.raises(DataError, match="class folder 'emu' has no files; remove it or add its examples"):
        load_images(f"dir:{tmp_path}", "train")
    archive = tmp_path.parent / "with_empty.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path, arcname="train")
    with pytest.raises(DataError, match="class folder 'emu' has no files"):
        load_images(f"dir:{archive}?root=train", "train")


def test_a_sample_reads_a_seeded_share_of_the_files(tmp_path):
    image_folder(tmp_path, per_class=5, shape=(4, 4, 3))
    sampled = load_images(f"dir:{tmp_path}?sample=4", "train")
    assert len(sampled) == 4 and sampled.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(sampled.pixels, load_images(f"dir:{tmp_path}?sample=4", "train").pixels)
    with pytest.raises(DataError, match="sample='none' is not a positive number of images"):
        load_images(f"dir:{tmp_path}?sample=none", "train")


def test_bad_options_and_paths(tmp_path):
    image_folder(tmp_path, per_class=1, shape=(4, 4, 3))
    with pytest.raises(DataError, match="channels='2'; use 1 \\(grey\\) or 3 \\(colour\\)"):
        load_images(f"dir:{tmp_path}?channels=2", "train")
    with pytest.raises(DataError, match="data folder '.*nowhere' does not exist"):
        load_images(f"dir:{tmp_path / 'nowhere'}", "train")
    with pytest.raises(DataError, match="unknown option"):
        load_images(f"dir:{tmp_path}?colour=yes", "train")


def test_the_shared_cifar10_archive_reads_whole(shared_data):
    import csv

    archive = shared_data / "images" / "cifar10" / "cifar10_train_jpg.tar.gz"
    images = load_images(f"dir:{archive}?root=train", "train")
    assert images.pixels.shape == (50_000, 32, 32, 3)
    assert images.class_names == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert np.bincount(images.labels).tolist() == [5_000] * 10
    with open(shared_data / "images" / "cifar10" / "cifar10_train_labels.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda row: row["path"])  # the archive's order: class, then file
    assert [row["label"] for row in rows] == images.label_names  # each image labelled as the data set's CSV says
    assert 0 < images.pixels.mean() < 255
