"""Reading data files: gzip or not, UTF-8 checked, with errors that name the file, line and byte."""

from __future__ import annotations

import gzip
import os

from tfmodels.data.specs import DataSpec
from tfmodels.errors import DataError


def existing_file(spec: DataSpec) -> str:
    """The spec's path, which must be a file."""
    path = spec.argument
    if not os.path.exists(path):
        raise DataError(f"data file '{path}' does not exist (from data spec '{spec.text}')")
    if os.path.isdir(path):
        raise DataError(f"data file '{path}' is a folder, not a file (from data spec '{spec.text}')")
    return path


def read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed when it is gzip (by its magic number, not its name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"data file '{path}' cannot be read: {e}") from None


def decode_utf8(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataError(f"'{path}' line {line}: invalid UTF-8 (byte {e.start}); save the file as UTF-8") from None
