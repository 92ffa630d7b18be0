"""Run folders: what a run writes where, resuming an unfinished run, and writes that are atomic.

    RUN/config.yaml        the resolved config (a rerun must match it to resume)
    RUN/data.json          what the model takes (input name, shape, dtype) and where the data came from
    RUN/model.keras        the model with the best validation weights (written last but one)
    RUN/checkpoints/       best weights so far (best.weights.h5, best.json), backups for resuming (backup/)
    RUN/logs/              TensorBoard: train/, validation/, evaluation/
    RUN/history.csv        one row an epoch
    RUN/metrics.json       final metrics; its "status" is "finished" only when everything is written
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tfmodels.config import Config, config_from_dict, config_to_dict, dump_config
from tfmodels.errors import ConfigError, RunDirError

FINISHED = "finished"


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def name(self) -> str:
        return self.root.resolve().name

    config = property(lambda self: self.root / "config.yaml")
    data_info = property(lambda self: self.root / "data.json")
    model = property(lambda self: self.root / "model.keras")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best_weights = property(lambda self: self.root / "checkpoints" / "best.weights.h5")
    backup = property(lambda self: self.root / "checkpoints" / "backup")
    logs = property(lambda self: self.root / "logs")
    history = property(lambda self: self.root / "history.csv")
    metrics = property(lambda self: self.root / "metrics.json")


def default_run_dir(config: Config) -> Path:
    """`runs/<config.name>`; the name must be a plain folder name, so that a config cannot write elsewhere."""
    name = config.name
    if not name or name in (".", "..") or not all(c.isalnum() or c in "._-" for c in name) or name.startswith("."):
        raise ConfigError(f"config key 'name': {name!r} is not a plain folder name (letters, digits, '.', '_', '-'; "
                          "not starting with '.'); it names the run folder runs/<name>")
    return Path("runs") / name


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


def atomic_write_text(path: Path | str, text: str) -> None:
    """Writes `text` beside `path` and renames it into place: readers see the old or the new file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def read_run_config(paths: RunPaths) -> Config:
    if not paths.config.is_file():
        raise RunDirError(f"'{paths.root}' is not a run folder: it has no config.yaml (was it made by `tfmodels train`?)")
    try:
        return config_from_dict(yaml.safe_load(paths.config.read_text(encoding="utf-8")))
    except (ConfigError, yaml.YAMLError) as e:
        raise RunDirError(f"'{paths.config}' is not a valid config: {e}") from None


def require_finished(paths: RunPaths) -> dict:
    """Returns the metrics of a finished run, or raises RunDirError saying what is missing."""
    if not paths.root.is_dir():
        raise RunDirError(f"run folder '{paths.root}' does not exist")
    metrics = read_json(paths.metrics)
    if metrics.get("status") != FINISHED or not paths.model.is_file():
        raise RunDirError(
            f"run folder '{paths.root}' holds no finished run (status: {metrics.get('status', 'unfinished')}); "
            f"finish it by rerunning `tfmodels train` with --run-dir {paths.root}"
        )
    return metrics


def check_run_dir(root: Path | str, config: Config) -> bool:
    """Whether `root` can take this run, without writing anything: returns True for a resume.

    Raises RunDirError when the folder holds a finished run, another config's run, or something
    that is not a run folder.
    """
    paths = RunPaths(Path(root))
    if not paths.root.exists():
        return False
    if not paths.root.is_dir():
        raise RunDirError(f"run folder '{paths.root}' is a file; choose another --run-dir")
    if read_json(paths.metrics).get("status") == FINISHED:
        raise RunDirError(
            f"run folder '{paths.root}' already holds a finished run; choose another --run-dir "
            "(or delete that folder to train again)"
        )
    if paths.config.is_file():
        differences = _differences(config_to_dict(read_run_config(paths)), config_to_dict(config))
        if differences:
            raise RunDirError(
                f"run folder '{paths.root}' holds an unfinished run of another config "
                f"(differs at {', '.join(differences[:5])}); rerun it with the same config to resume, "
                "or choose another --run-dir"
            )
        return True
    if any(paths.root.iterdir()):
        raise RunDirError(f"'{paths.root}' exists, is not empty and is not a run folder; choose another --run-dir")
    return False


def prepare_run_dir(root: Path | str, config: Config) -> tuple[RunPaths, bool]:
    """Checks the folder (`check_run_dir`) and creates what a run needs; returns (paths, resumed)."""
    resumed = check_run_dir(root, config)
    paths = RunPaths(Path(root))
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    if not resumed:
        atomic_write_text(paths.config, dump_config(config))
    return paths, resumed


def _differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(dict.fromkeys([*a, *b]))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]
