import gzip
import struct

import numpy as np
import pytest

from tfmodels.config import DataConfig, TableOptions
from tfmodels.data import tfds_source
from tfmodels.data.images import load_images
from tfmodels.data.specs import parse_spec
from tfmodels.data.splits import infer_num_classes, load_splits
from tfmodels.errors import ConfigError, DataError

RNG = np.random.default_rng(0)


def write_csv(path, rows, header=None):
    lines = ([",".join(header)] if header else []) + [",".join(str(v) for v in row) for row in rows]
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def pixel_rows(n=20, pixels=16, classes=3, value_max=16):
    return [list(RNG.integers(0, value_max + 1, pixels)) + [i % classes] for i in range(n)]


# --- specs ------------------------------------------------------------------------------------

def test_spec_parsing_and_env_expansion(monkeypatch):
    monkeypatch.setenv("DATA_HOME", "/data")
    spec = parse_spec("csv:${DATA_HOME}/train.csv?label_column=0&header=true")
    assert (spec.kind, spec.argument, spec.options) == ("csv", "/data/train.csv", {"label_column": "0", "header": "true"})
    assert parse_spec("digits?split=all").options == {"split": "all"}


@pytest.mark.parametrize("text, message", [
    ("", "empty data spec"),
    ("mnist", "unknown kind 'mnist'"),
    ("csv:", "needs a path"),
    ("tfds:", "needs a name"),
    ("digits:foo", "takes no argument"),
    ("csv:x.csv?header", "not of the form key=value"),
    ("csv:$NOT_SET_ANYWHERE/x.csv", "environment variable NOT_SET_ANYWHERE is not set"),
])
def test_bad_specs(text, message):
    with pytest.raises(DataError, match=message):
        parse_spec(text)


# --- digits -----------------------------------------------------------------------------------

def test_digits_splits_are_fixed_disjoint_and_cover_all():
    parts = {role: load_images("digits", role) for role in ("train", "validation", "test")}
    assert [len(parts[r]) for r in ("train", "validation", "test")] == [1257, 270, 270]
    everything = load_images("digits?split=all", "train")
    assert len(everything) == 1797 and everything.image_shape == (8, 8) and everything.value_max == 16
    rows = {role: {p.tobytes() + bytes([int(label)]) for p, label in zip(s.pixels, s.labels)} for role, s in parts.items()}
    assert not rows["train"] & rows["test"] and not rows["validation"] & rows["test"]
    again = load_images("digits", "test")
    np.testing.assert_array_equal(again.pixels, parts["test"].pixels)


def test_digits_scaled_is_in_unit_range():
    scaled = load_images("digits", "train").scaled()
    assert scaled.dtype == np.float32 and scaled.min() == 0.0 and scaled.max() == 1.0


# --- csv --------------------------------------------------------------------------------------

def test_csv_reads_label_last_square_images_and_value_range(tmp_path):
    path = write_csv(tmp_path / "d.csv.gz", pixel_rows(n=20, pixels=16))
    images = load_images(f"csv:{path}", "train")
    assert images.pixels.shape == (20, 4, 4) and images.value_max == 16
    assert list(images.labels[:4]) == [0, 1, 2, 0]


def test_csv_label_first_by_name_with_header(tmp_path):
    rows = [[r[-1]] + r[:-1] for r in pixel_rows(n=10, pixels=6, value_max=255)]
    path = write_csv(tmp_path / "d.csv", rows, header=["label"] + [f"p{i}" for i in range(6)])
    images = load_images(f"csv:{path}?label_column=label&image_shape=2,3", "train")
    assert images.pixels.shape == (10, 2, 3) and images.value_max == 255
    assert list(images.labels[:3]) == [0, 1, 2]


def test_csv_numeric_junk_header_needs_header_true(shared_data):
    # optdigits.tra starts with "0,1,...,9": numeric, so only header=true reads it.
    path = shared_data / "images/optdigits/optdigits.tra"
    with pytest.raises(DataError, match=r"line 2: 65 columns, but line 1 has 10.*set header=true"):
        load_images(f"csv:{path}", "train")
    images = load_images(f"csv:{path}?header=true", "train")
    assert images.pixels.shape == (3823, 8, 8) and images.value_max == 16
    assert np.bincount(images.labels).tolist() == [376, 389, 380, 389, 387, 376, 377, 387, 380, 382]


def test_csv_holdout_split_is_disjoint(tmp_path):
    rows = [[i, 0, 0, i % 2] for i in range(50)]  # the first pixel numbers the row
    path = write_csv(tmp_path / "d.csv", rows)
    train = load_images(f"csv:{path}?split=train&image_shape=3", "train")
    test = load_images(f"csv:{path}?split=test&test_fraction=0.2&image_shape=3", "test")
    assert (len(train), len(test)) == (40, 10)
    assert sorted(np.concatenate([train.pixels[:, 0], test.pixels[:, 0]]).tolist()) == list(range(50))
    again = load_images(f"csv:{path}?split=test&image_shape=3", "test")
    np.testing.assert_array_equal(again.pixels, test.pixels)


@pytest.mark.parametrize("content, spec_suffix, message", [
    ("", "", "is empty"),
    ("1,2,3,0\n1,2,0\n", "", r"line 2: 3 columns, but line 1 has 4"),
    ("1,2,3,0\n1,x,3,1\n", "", r"line 2, column 2: 'x' is not a number"),
    ("1,2,3,0.5\n", "", "label 0.5 of example 0 is not an integer"),
    ("1,2,3,-1\n", "", "label -1 of example 0 is negative"),
    ("1,2,3,0\n", "?label_column=9", "label column 9 does not exist"),
    ("a,b,label\n1,2,0\n", "?label_column=target", "no column named 'target'"),
    ("1,2,3,0\n", "?image_shape=2,2", r"image_shape \[2, 2\] does not hold the 3 pixels"),
    ("1,2,3000,0\n", "", "pixel values go up to 3000.0; set value_max"),
    ("1,2,3,0\n", "?colour=red", "unknown option 'colour' for 'csv'"),
    ("1,2,3,0\n", "?header=perhaps", "must be true, false or auto"),
    ("1,2,nan,0\n", "", "NaN or infinity"),
])
def test_csv_bad_files(tmp_path, content, spec_suffix, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_images(f"csv:{path}{spec_suffix}", "train")


def test_csv_not_utf8_and_missing_and_folder(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"1,2,\xe9\n")
    with pytest.raises(DataError, match=r"line 1: invalid UTF-8 \(byte 4\)"):
        load_images(f"csv:{path}", "train")
    with pytest.raises(DataError, match="does not exist"):
        load_images(f"csv:{tmp_path}/missing.csv", "train")
    with pytest.raises(DataError, match="is a folder"):
        load_images(f"csv:{tmp_path}", "train")


def test_table_options_from_config_apply_and_spec_wins(tmp_path):
    rows = [[r[-1]] + r[:-1] for r in pixel_rows(n=6, pixels=4)]
    path = write_csv(tmp_path / "d.csv", rows)
    images = load_images(f"csv:{path}", "train", TableOptions(label_column=0, image_shape=[4], value_max=20.0))
    assert images.pixels.shape == (6, 4) and images.value_max == 20.0
    images = load_images(f"csv:{path}?value_max=40", "train", TableOptions(label_column=0))
    assert images.value_max == 40.0


# --- idx and npz ------------------------------------------------------------------------------

def write_idx(path, array, compress):
    data = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:  # closed here: Python 3.12's GzipFile buffers writes
        f.write(data)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files(tmp_path, compress):
    images = RNG.integers(0, 256, (12, 5, 5))
    labels = np.arange(12) % 10
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    loaded = load_images(f"idx:{tmp_path}/train", "train")
    np.testing.assert_array_equal(loaded.pixels, images)
    np.testing.assert_array_equal(loaded.labels, labels)
    assert loaded.value_max == 255


def test_idx_truncated_and_missing(tmp_path):
    write_idx(tmp_path / "t-images-idx3-ubyte", RNG.integers(0, 256, (4, 3, 3)), False)
    (tmp_path / "t-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 4) + b"\x01\x02")
    with pytest.raises(DataError, match="truncated"):
        load_images(f"idx:{tmp_path}/t", "train")
    with pytest.raises(DataError, match="no IDX file found; tried"):
        load_images(f"idx:{tmp_path}/nothing", "train")


def test_npz_keras_layout_picks_split_by_role(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=RNG.integers(0, 256, (10, 4, 4)), y_train=np.arange(10) % 2,
             x_test=RNG.integers(0, 256, (4, 4, 4)), y_test=np.arange(4) % 2)
    assert len(load_images(f"npz:{path}", "train")) == 10
    assert len(load_images(f"npz:{path}", "test")) == 4
    with pytest.raises(DataError, match=r"holds arrays \['a'\]"):
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        load_images(f"npz:{tmp_path}/other.npz", "train")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable NumPy .npz"):
        load_images(f"npz:{tmp_path}/junk.npz", "train")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(DataError, match="not a readable NumPy .npz"):
        load_images(f"npz:{tmp_path}/empty.npz", "train")
    with open(tmp_path / "one_array.npz", "wb") as f:  # np.save's .npy format under an .npz name
        np.save(f, np.zeros((4, 8, 8)))
    with pytest.raises(DataError, match="holds one array, not an .npz archive of named arrays"):
        load_images(f"npz:{tmp_path}/one_array.npz", "train")


# --- splits -----------------------------------------------------------------------------------

def test_validation_is_carved_from_train_when_not_given():
    splits = load_splits(DataConfig(train="digits", validation=None, validation_fraction=0.2))
    assert (len(splits["train"]), len(splits["validation"])) == (1006, 251)
    assert "test" not in splits


def test_labels_out_of_range_and_shape_mismatch(tmp_path):
    path = write_csv(tmp_path / "d.csv", pixel_rows(n=12, pixels=64, classes=12))
    splits = load_splits(DataConfig(train=f"csv:{path}", validation="digits"))
    with pytest.raises(DataError, match=r"data.train .*label 10 at example 10 is outside 0..9"):
        infer_num_classes(splits, 10)
    other = write_csv(tmp_path / "e.csv", pixel_rows(n=10, pixels=16))
    with pytest.raises(DataError, match=r"data.validation .* shape \[4, 4\], but data.train has \[8, 8\]"):
        load_splits(DataConfig(train="digits", validation=f"csv:{other}"))
    with pytest.raises(ConfigError, match="data.validation_fraction must be between 0 and 1"):
        DataConfig(train="digits", validation_fraction=1.5).validate()


# --- tfds offline -----------------------------------------------------------------------------

def test_tfds_not_downloaded_offline_fails_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)
    with pytest.raises(DataError, match=r"'mnist' is not downloaded in .* network is unreachable.*local file"):
        load_images(f"tfds:mnist?data_dir={tmp_path}", "train")


def test_tfds_unknown_name():
    with pytest.raises(DataError, match="TFDS has no data set named 'mnistt'"):
        load_images("tfds:mnistt", "train")


def test_network_probe_gives_up_on_a_closed_port():
    # Port 9 (discard) on loopback: nothing listens, so the probe answers False (and quickly).
    assert tfds_source.network_reachable(hosts=(("127.0.0.1", 9),), timeout=2.0) is False


def test_a_csv_of_images_labelled_by_name(tmp_path):
    """Labels `zero`..`nine` instead of 0..9: ids in sorted order, shared by every split, names in the run
    folder and back from the SavedModel and `predict`; a test set with an unseen name is refused."""
    from sklearn.datasets import load_digits

    from tfmodels.config import apply_overrides, demo_config
    from tfmodels.data.splits import load_splits
    from tfmodels.errors import DataError
    from tfmodels.files import read_json
    from tfmodels.verbs.export import export_run
    from tfmodels.verbs.predict import predict
    from tfmodels.verbs.train import train

    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    digits = load_digits()
    rows = [",".join(map(str, map(int, x))) + f",{words[y]}" for x, y in zip(digits.data, digits.target)]
    (tmp_path / "train.csv").write_text("\n".join(rows[:1400]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(rows[1400:]) + "\n")
    images = load_images(f"csv:{tmp_path / 'test.csv'}", "test")
    assert images.class_names == sorted(words) and images.image_shape == (8, 8)
    config = apply_overrides(demo_config(), [f"data.train=csv:{tmp_path / 'train.csv'}", "data.validation=null",
                                             f"data.test=csv:{tmp_path / 'test.csv'}", "data.table.image_shape=[8, 8]",
                                             "trainer.epochs=3", "logging.verbose=0", "logging.histogram_freq=0"])
    splits = load_splits(config.data)
    assert all(s.class_names == sorted(words) for s in splits.values())
    index = sorted(words).index("seven")
    assert (splits["test"].labels == index).sum() == sum(1 for y in digits.target[1400:] if y == 7)
    result = train(config, tmp_path / "run")
    assert read_json(tmp_path / "run" / "data.json")["class_names"] == sorted(words)
    assert result.metrics["test"]["accuracy"] > 0.8
    out = export_run(tmp_path / "run", out=tmp_path / "export")
    answer = predict(out, [f"csv:{tmp_path / 'test.csv'}"])
    assert set(answer.class_names) <= set(words) and (answer.class_ids == answer.labels).mean() > 0.8
    (tmp_path / "odd.csv").write_text(rows[0].rsplit(",", 1)[0] + ",eleven\n")
    bad = apply_overrides(config, [f"data.test=csv:{tmp_path / 'odd.csv'}"])
    with pytest.raises(DataError, match="data.test .*has the class 'eleven', which is not one of the training set's"):
        load_splits(bad.data)
