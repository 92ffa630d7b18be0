"""Labelled images from a data spec, read and checked up front into NumPy arrays.

Every source gives an `ImageSet`: raw pixel values (grey `(N, H, W)` or colour `(N, H, W, C)`),
integer labels, and the largest possible pixel value (16 for the UCI digits, 255 for MNIST and
image files). Scaling to [0, 1] happens in the tf.data
pipeline (`tfmodels.data.pipeline`). The files these read are small tables of pixels, so they
are parsed here with NumPy rather than inside a tf.data graph: every error (a ragged row, a bad
label, a missing column, a corrupt JPEG) is then found and reported before a run folder is made. Folders
of class folders of JPEG/PNG/GIF/BMP files (`dir:`, also inside a tar archive) are decoded by TensorFlow.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

from tfmodels.config import TableOptions
from tfmodels.data.examples import SPLIT_SEED, assign_class_ids, carve
from tfmodels.data.files import class_files, decode_utf8, existing_file, read_bytes
from tfmodels.data.specs import (
    IMAGE_KINDS,
    DataSpec,
    bool_option,
    parse_spec,
    reject_options,
)
from tfmodels.errors import DataError

ROLES = ("train", "validation", "test")
HOLDOUT_KINDS = ("csv", "idx")  # single-file sources: `?split=train|test` carves a seeded test_fraction
DIGITS_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


@dataclass
class ImageSet:
    pixels: np.ndarray  # (N, *image_shape) float32, raw values in [0, value_max]
    labels: np.ndarray | None  # (N,) int32; None only until class names get their ids
    value_max: float
    source: str  # the spec it came from, for messages and metrics.json
    class_names: list[str] = field(default_factory=list)
    label_names: list[str] | None = None  # (N,) each image's class by name, where the source names them

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape[1:])

    def __len__(self) -> int:
        return len(self.pixels)

    def scaled(self) -> np.ndarray:
        """Pixels in [0, 1]: the input the models and the exported SavedModels take."""
        return (self.pixels / np.float32(self.value_max)).astype(np.float32)

    def subset(self, index: np.ndarray, source: str) -> "ImageSet":
        names = None if self.label_names is None else [self.label_names[i] for i in index]
        labels = None if self.labels is None else self.labels[index]
        return ImageSet(self.pixels[index], labels, self.value_max, source, self.class_names, names)


def load_images(spec: str | DataSpec, role: str, table: TableOptions | None = None) -> ImageSet:
    """Loads the images a spec names; `role` (train/validation/test) picks the default split."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind not in IMAGE_KINDS:
        raise DataError(f"data spec '{spec.text}': '{spec.kind}' is a text source, but this model takes images "
                        f"({', '.join(IMAGE_KINDS)})")
    table = table or TableOptions()
    loader = {"digits": _load_digits, "csv": _load_csv, "idx": _load_idx, "npz": _load_npz, "tfds": _load_tfds,
              "dir": _load_image_dir}
    if spec.kind in HOLDOUT_KINDS:
        spec, holdout = _holdout_option(spec)
    images = loader[spec.kind](spec, role, table)
    if spec.kind in HOLDOUT_KINDS and holdout:
        split, fraction = holdout
        rest, held_out = carve(images, fraction, purpose="test")
        images = rest if split == "train" else held_out
        images.source = spec.text
    if len(images) == 0:
        raise DataError(f"data spec '{spec.text}' gives no examples (an empty data set)")
    if not np.all(np.isfinite(images.pixels)):
        raise DataError(f"data spec '{spec.text}': pixel values include NaN or infinity")
    if images.label_names is not None:  # ids of its own sorted names; the splits then share the train set's
        assign_class_ids({role: images})
    return images


def _holdout_option(spec: DataSpec) -> tuple[DataSpec, tuple[str, float] | None]:
    """Takes `split` and `test_fraction` out of a file spec: (spec without them, (split, fraction))."""
    options = dict(spec.options)
    split = options.pop("split", "all")
    fraction_text = options.pop("test_fraction", "0.2")
    if split not in ("train", "test", "all"):
        raise DataError(f"data spec '{spec.text}': split must be train, test or all for a single file, got '{split}'")
    try:
        fraction = float(fraction_text)
    except ValueError:
        raise DataError(f"data spec '{spec.text}': test_fraction={fraction_text!r} is not a number") from None
    if not 0.0 < fraction < 1.0:
        raise DataError(f"data spec '{spec.text}': test_fraction must be between 0 and 1, got {fraction}")
    stripped = DataSpec(spec.kind, spec.argument, options, spec.text)
    return stripped, (None if split == "all" else (split, fraction))


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _split_option(spec: DataSpec, role: str, available: tuple[str, ...]) -> str:
    split = spec.option("split", role)
    if split not in available:
        raise DataError(f"data spec '{spec.text}': split '{split}' does not exist; available: {', '.join(available)}")
    return split


def _load_digits(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    reject_options(spec, {"split"})
    split = _split_option(spec, role, ("train", "validation", "test", "all"))
    digits = load_digits()
    pixels = digits.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    labels = digits.target.astype(np.int32)
    if split != "all":
        index = np.arange(len(labels))
        f = DIGITS_FRACTIONS
        train, rest = train_test_split(index, train_size=f["train"], stratify=labels, random_state=SPLIT_SEED)
        validation, test = train_test_split(rest, test_size=f["test"] / (1 - f["train"]), stratify=labels[rest],
                                            random_state=SPLIT_SEED)
        index = np.sort({"train": train, "validation": validation, "test": test}[split])
        pixels, labels = pixels[index], labels[index]
    return ImageSet(pixels, labels, 16.0, spec.text)


def _load_csv(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    reject_options(spec, {"label_column", "header", "delimiter", "image_shape", "value_max"})
    path = existing_file(spec)
    delimiter = spec.option("delimiter", table.delimiter)
    header = bool_option(spec, "header", table.header)
    lines = [line for line in decode_utf8(read_bytes(path), path).splitlines() if line.strip()]
    if not lines:
        raise DataError(f"data file '{path}' is empty (from data spec '{spec.text}')")
    rows = [line.split(delimiter) for line in lines]
    if header is None:  # a first row with a word where a pixel would be (the label may be a class name)
        guess = _guess_label_index(spec, table, len(rows[0]))
        header = not all(_is_number(v) for i, v in enumerate(rows[0]) if i != guess) or (
            len(rows) > 1 and not _is_number(rows[0][guess]) and _is_number(rows[1][guess]))
    names = [v.strip() for v in rows[0]] if header else None
    if header:
        rows = rows[1:]
    if not rows:
        raise DataError(f"'{path}' has no data rows (an empty data set)")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            line_no = i + 1 + int(header)
            raise DataError(
                f"'{path}' line {line_no}: {len(row)} columns, but line {1 + int(header)} has {width}; "
                "every row must be the pixels and the label"
                + ("" if header else " (if the first line is a header, set header=true)")
            )
    if width < 2:
        raise DataError(f"'{path}': rows have {width} column; need pixel columns and a label column")
    label_col = _label_column(spec, table, names, width, path)
    cells = [row[label_col].strip() for row in rows]
    named = not any(_is_number(cell) for cell in cells)  # every label a class name (cat, dog)
    numeric = [[v for j, v in enumerate(row) if j != label_col] for row in rows] if named else rows
    try:
        values = np.asarray(numeric, dtype=np.float64)
    except ValueError:
        line_no, column = _first_non_number(numeric)
        column += int(named and column >= label_col)
        raise DataError(
            f"'{path}' line {line_no + 1 + int(header)}, column {column + 1}: "
            f"{rows[line_no][column].strip()!r} is not a number"
        ) from None
    if named:
        labels, label_names, pixels = None, cells, values.astype(np.float32)
    else:
        labels, label_names = _integer_labels(values[:, label_col], path), None
        pixels = np.delete(values, label_col, axis=1).astype(np.float32)
    shape = _image_shape(spec, table, pixels.shape[1], path)
    return ImageSet(pixels.reshape((-1, *shape)), labels, _value_max(spec, table, pixels, path), spec.text,
                    label_names=label_names)


def _load_idx(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    reject_options(spec, {"value_max"})
    prefix = spec.argument
    images_path = _first_existing(prefix, ("-images-idx3-ubyte", "-images.idx3-ubyte"), spec)
    labels_path = _first_existing(prefix, ("-labels-idx1-ubyte", "-labels.idx1-ubyte"), spec)
    pixels = _read_idx(images_path).astype(np.float32)
    labels = _read_idx(labels_path)
    if pixels.ndim != 3 or labels.ndim != 1 or len(pixels) != len(labels):
        raise DataError(
            f"IDX files '{images_path}' {pixels.shape} and '{labels_path}' {labels.shape} do not match: "
            "need images (N, H, W) and labels (N,)"
        )
    return ImageSet(pixels, labels.astype(np.int32), _value_max(spec, table, pixels, images_path, default=255.0),
                    spec.text)


def _load_npz(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    reject_options(spec, {"x", "y", "split", "image_shape", "value_max"})
    path = existing_file(spec)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"'{path}' is not a readable NumPy .npz file: {e or type(e).__name__}") from None
    except TypeError:  # a plain .npy array (np.load returns it, not an archive of named arrays)
        raise DataError(f"'{path}' holds one array, not an .npz archive of named arrays (x, y)") from None
    split = spec.option("split", role)
    suffix = {"train": "_train", "test": "_test", "validation": "_val"}.get(split, "")
    x_key = spec.option("x") or next((k for k in (f"x{suffix}", "x", "images") if k in arrays), None)
    y_key = spec.option("y") or next((k for k in (f"y{suffix}", "y", "labels") if k in arrays), None)
    if x_key not in arrays or y_key not in arrays:
        raise DataError(
            f"'{path}' holds arrays {sorted(arrays)}; name the images and labels with "
            f"'npz:{spec.argument}?x=NAME&y=NAME'"
        )
    pixels, labels = arrays[x_key], arrays[y_key]
    if len(pixels) != len(labels) or labels.ndim != 1:
        raise DataError(f"'{path}': '{x_key}' {pixels.shape} and '{y_key}' {labels.shape} do not match")
    pixels = pixels.astype(np.float32)
    if pixels.ndim == 2:
        pixels = pixels.reshape((-1, *_image_shape(spec, table, pixels.shape[1], path)))
    return ImageSet(pixels, _integer_labels(labels, path), _value_max(spec, table, pixels, path), spec.text)


def _load_tfds(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    from tfmodels.data.tfds_source import load_tfds_arrays

    reject_options(spec, {"split", "data_dir", "image_key", "label_key"})
    pixels, labels = load_tfds_arrays(
        spec.argument,
        split=spec.option("split", role),
        data_dir=spec.option("data_dir"),
        keys=(spec.option("image_key", "image"), spec.option("label_key", "label")),
        spec_text=spec.text,
    )
    if pixels.ndim == 4 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # (N, H, W, 1) -> (N, H, W)
    return ImageSet(pixels.astype(np.float32), labels.astype(np.int32), 255.0, spec.text)


def _load_image_dir(spec: DataSpec, role: str, table: TableOptions) -> ImageSet:
    """`dir:FOLDER` or `dir:ARCHIVE.tar.gz?root=train`: one sub-folder a class, its image files the examples.

    Every image must have the same size and channels, or the load stops naming two that differ: images are
    not resized silently. `?image_shape=H,W` resizes all to H x W (bilinear); `?channels=1|3` reads all as
    grey or colour; `?sample=N` reads a seeded N of the files."""
    reject_options(spec, {"root", "image_shape", "channels", "sample"})
    files = class_files(spec, spec.option("root", ""))
    if spec.option("sample") is not None:  # a seeded share of the files (a quick trial), read and decoded alone
        files = _sampled(files, spec)
    channels = spec.option("channels")
    if channels not in (None, "1", "3"):
        raise DataError(f"data spec '{spec.text}': channels={channels!r}; use 1 (grey) or 3 (colour)")
    resize = spec.option("image_shape")
    if resize is not None:
        resize = _image_shape(spec, table, 0, spec.argument, check=False)
        if len(resize) != 2:
            raise DataError(f"data spec '{spec.text}': image_shape must be H,W for image files, got {list(resize)}")
    images, names, first = [], [], None
    for name, entries in files.items():
        for path, content in entries:
            pixels = _decode_image(path, content if content is not None else read_bytes(path), channels, resize)
            if first is None:
                first = (path, pixels.shape)
            elif pixels.shape != first[1]:
                what = "channels" if pixels.shape[:2] == first[1][:2] else "size"
                fix = "?channels=3 (or 1) reads all alike" if what == "channels" else \
                    "?image_shape=H,W resizes all to one size"
                raise DataError(f"'{path}' is {_describe(pixels.shape)} but '{first[0]}' is {_describe(first[1])}: "
                                f"images of one data set must match (refused, not resized); {fix}")
            images.append(pixels)
            names.append(name)
    pixels = np.stack(images).astype(np.float32)  # (N, H, W, C)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # grey: (N, H, W), as the other sources
    return ImageSet(pixels, None, 255.0, spec.text, sorted(files), label_names=names)


def _sampled(files: dict, spec: DataSpec) -> dict:
    text = spec.option("sample")
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"data spec '{spec.text}': sample={text!r} is not a positive number of images")
    entries = [(name, entry) for name, items in files.items() for entry in items]
    keep = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(entries))[:int(text)])
    sampled: dict = {}
    for i in keep:
        sampled.setdefault(entries[i][0], []).append(entries[i][1])
    return sampled


def _decode_image(path: str, data: bytes, channels: str | None, resize) -> np.ndarray:
    """(H, W, C) uint8 pixels of a JPEG/PNG/GIF/BMP file's bytes, or a DataError naming the file."""
    import tensorflow as tf

    try:
        pixels = tf.io.decode_image(data, channels=int(channels or 0), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        message = " ".join(str(e.message).split())[:120]
        raise DataError(f"'{path}' is not a readable image (JPEG, PNG, GIF or BMP): {message}") from None
    if resize is not None and tuple(pixels.shape[:2]) != tuple(resize):
        pixels = tf.image.resize(pixels, resize, method="bilinear", antialias=True)
    return pixels.numpy()


def _describe(shape) -> str:
    return f"{shape[0]}x{shape[1]} with {shape[2]} channel{'s' if shape[2] != 1 else ''}"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _first_existing(prefix: str, suffixes: tuple[str, ...], spec: DataSpec) -> str:
    tried = [prefix + s + gz for s in suffixes for gz in ("", ".gz")]
    for path in tried:
        if os.path.isfile(path):
            return path
    raise DataError(f"data spec '{spec.text}': no IDX file found; tried {', '.join(tried)}")


def _read_idx(path: str) -> np.ndarray:
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"'{path}' is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file '{path}' is truncated (header)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(shape):
        raise DataError(f"IDX file '{path}' is truncated or too long: header says {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _first_non_number(rows: list[list[str]]) -> tuple[int, int]:
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if not _is_number(value):
                return i, j
    return 0, 0  # pragma: no cover - only called after NumPy failed to convert


def _guess_label_index(spec: DataSpec, table: TableOptions, width: int) -> int:
    """The label column's index before the header is known (a name: -1, the usual last column)."""
    column = spec.option("label_column", table.label_column)
    if isinstance(column, str) and column.lstrip("-").isdigit():
        column = int(column)
    return column % width if isinstance(column, int) and -width <= column < width else width - 1


def _label_column(spec: DataSpec, table: TableOptions, names: list[str] | None, width: int, path: str) -> int:
    column = spec.option("label_column", table.label_column)
    if isinstance(column, str) and column.lstrip("-").isdigit():
        column = int(column)
    if isinstance(column, str):
        if names is None:
            raise DataError(f"'{path}': label column '{column}' is a name but the file has no header")
        if column not in names:
            raise DataError(f"'{path}': no column named '{column}'; columns are {', '.join(names[:8])}...")
        return names.index(column)
    if not -width <= column < width:
        raise DataError(f"'{path}': label column {column} does not exist; rows have {width} columns")
    return column % width


def _integer_labels(values: np.ndarray, path: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"'{path}': label {values[i]} of example {i} is not an integer")
    elif values.dtype.kind not in "iu":
        raise DataError(f"'{path}': labels are of type {values.dtype}, not integers")
    labels = values.astype(np.int64)
    if (labels < 0).any():
        i = int(np.argmax(labels < 0))
        raise DataError(f"'{path}': label {labels[i]} of example {i} is negative; labels are 0..num_classes-1")
    return labels.astype(np.int32)


def _image_shape(spec: DataSpec, table: TableOptions, n_pixels: int, path: str, check: bool = True) -> tuple[int, ...]:
    shape = spec.option("image_shape", table.image_shape)
    if isinstance(shape, str):
        try:
            shape = [int(s) for s in shape.replace("x", ",").split(",")]
        except ValueError:
            raise DataError(f"data spec '{spec.text}': image_shape={shape!r} is not like 28,28") from None
    if shape is None:
        side = math.isqrt(n_pixels)
        return (side, side) if side * side == n_pixels else (n_pixels,)
    if any(s < 1 for s in shape) or (check and math.prod(shape) != n_pixels):
        raise DataError(f"'{path}': image_shape {list(shape)} does not hold the {n_pixels} pixels of a row")
    return tuple(shape)


def _value_max(spec, table, pixels: np.ndarray, path: str, default: float | None = None) -> float:
    if pixels.size == 0:
        raise DataError(f"'{path}' holds no examples (an empty data set)")
    finite = np.isfinite(pixels.reshape(len(pixels), -1)).all(axis=1)
    if not finite.all():
        raise DataError(f"'{path}': pixel values of example {int(np.argmin(finite))} include NaN or infinity")
    value = spec.option("value_max", table.value_max if default is None else default)
    if value is not None:
        try:
            value = float(value)
        except ValueError:
            raise DataError(f"data spec '{spec.text}': value_max={value!r} is not a number") from None
        if value <= 0:
            raise DataError(f"data spec '{spec.text}': value_max must be positive, got {value}")
        return value
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0:
        raise DataError(f"'{path}': pixel values go down to {low}; set value_max to scale them yourself")
    for candidate in (1.0, 16.0, 255.0):
        if high <= candidate:
            return candidate
    raise DataError(f"'{path}': pixel values go up to {high}; set value_max (the largest possible value)")
