"""Files written so that a reader never sees half of one: write aside, then rename into place."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tfmodels.errors import RunDirError


def write_aside(path: Path | str, write, sync: bool = False) -> Path:
    """Calls `write(tmp)` for a temporary name beside `path` (`.tmp-<pid>-<name>`, the same suffix, as
    Keras's savers want), then renames it into place: readers see the old file or the new, never half.
    `sync` flushes the file to disk before the rename (for files a resume depends on)."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        if sync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_file():
            tmp.unlink()
        raise
    return path


def umask() -> int:
    """The process's file-mode creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def with_umask(path: Path | str, directory: bool = False) -> Path:
    """Gives a file (or folder) made by `tempfile`, which makes them for its owner alone (0600, 0700), the
    mode `open` (or `mkdir`) would have given it: 0666 (0777) less the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())
    return Path(path)


def make_staging_dir(target: Path, prefix: str) -> Path:
    """A new folder beside `target` to write into before renaming it into place, with the user's umask."""
    return with_umask(tempfile.mkdtemp(prefix=prefix, dir=target.parent), directory=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Writes `text` beside `path` and renames it into place: readers see the old or the new file, which
    has the mode any file the user writes has (the umask's)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with_umask(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path: Path | str, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path | str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise RunDirError(f"'{path}' cannot be read as JSON: {e}") from None


@contextmanager
def file_lock(path: Path | str, blocking: bool = True):
    """The project's one file lock: `flock` on `path` (made if missing), held inside the `with`; yields the
    open file when held, or None when `blocking=False` and another process holds it. The kernel drops an
    `flock` when its process ends, SIGKILL included, so a killed holder never leaves it stuck. Where
    `fcntl` does not exist (Windows) no lock is taken and the file is yielded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield f
            return
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
