"""Reading data files: gzip or not, UTF-8 checked, with errors that name the file, line and byte; folders of
class folders, on disk or in a tar archive read without unpacking."""

from __future__ import annotations

import gzip
import os
import tarfile

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


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def class_files(spec: DataSpec, root: str = "") -> dict[str, list[tuple[str, bytes | None]]]:
    """{class name: [(path, bytes or None to read from disk)]} of a folder of class folders (`FOLDER/CLASS/FILE`)
    or of a tar archive (`ROOT/CLASS/FILE` inside it, read without unpacking), classes and files sorted.
    A class folder with no files is an error naming it."""
    path = spec.argument
    if path.endswith(ARCHIVE_SUFFIXES):
        files = _files_in_archive(path, root, spec)
    else:
        if not os.path.isdir(path):
            raise DataError(f"data folder '{path}' does not exist (from data spec '{spec.text}')")
        files = {}
        for name in sorted(os.listdir(path)):
            folder = os.path.join(path, name)
            if os.path.isdir(folder):
                files[name] = [(os.path.join(folder, f), None) for f in sorted(os.listdir(folder))
                               if os.path.isfile(os.path.join(folder, f)) and not f.startswith(".")]
    if len(files) < 2:
        raise DataError(f"'{path}' needs one sub-folder a class (at least two); found {sorted(files) or 'none'}")
    empty = [name for name, entries in files.items() if not entries]
    if empty:
        raise DataError(f"'{path}': class folder '{empty[0]}' has no files; remove it or add its examples")
    return {name: files[name] for name in sorted(files)}


def _files_in_archive(path: str, root: str, spec: DataSpec) -> dict[str, list[tuple[str, bytes]]]:
    if not os.path.isfile(path):
        raise DataError(f"archive '{path}' does not exist (from data spec '{spec.text}')")
    root = root.strip("/")
    prefix = root.split("/") if root else []
    files: dict[str, list[tuple[str, bytes]]] = {}
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                parts = member.name.strip("./").split("/")
                if parts[:len(prefix)] != prefix:
                    continue
                if member.isdir() and len(parts) == len(prefix) + 1:
                    files.setdefault(parts[-1], [])  # a class folder, perhaps empty
                elif member.isfile() and len(parts) == len(prefix) + 2:  # only ROOT/CLASS/FILE
                    files.setdefault(parts[-2], []).append((f"{path}:{member.name}", archive.extractfile(member).read()))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"archive '{path}' cannot be read: {e}") from None
    if not any(files.values()):
        raise DataError(f"archive '{path}' has no ROOT/CLASS/FILE entries under root '{root}'; "
                        f"give the folder of the class folders, e.g. 'dir:{path}?root=aclImdb/train'")
    return {name: sorted(entries) for name, entries in files.items()}
