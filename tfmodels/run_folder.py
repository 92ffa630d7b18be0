"""The run-folder contract: every file a run folder holds is named here, and only here.

    RUN/config.yaml            the resolved config (a rerun must match it to resume)
    RUN/data.json              what the model takes (input name, shape, dtype) and where the data came from
    RUN/model.keras            the model with the best validation weights (written last but one)
    RUN/encoder.keras          pretraining runs: the encoder alone, for `init.from_run`
    RUN/vocabulary.txt         text runs: the vocabulary ([PAD] is id 0)
    RUN/characters.json        character language models: the characters, in id order
    RUN/bpe.json               byte-level BPE language models: the vocabulary and merges
    RUN/adapters.npz           LoRA runs: the adapters (and a classifier's head) alone, keyed by weight path,
                               with the fingerprint of their base (model.keras holds them merged)
    RUN/preset/                runs from a keras-hub preset (init.preset): its preprocessor and tokenizer files
                               and the backbone's config.json (no weights: those are in model.keras)
    RUN/checkpoints/           best weights so far (best.weights.h5, best.json), backups for resuming (backup/)
    RUN/logs/                  TensorBoard: train/, validation/ (Keras), run/ (tfmodels), evaluation/
    RUN/history.csv            one row an epoch
    RUN/training_curves.png    history.csv drawn
    RUN/confusion_matrix_<split>.png   after `evaluate`
    RUN/metrics.json           final metrics; its "status" is "finished" only when everything is written

It also decides whether a folder can take a run (new, resumed, or refused) and reads a finished
run back (its config, its metrics).
"""

from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from tfmodels.config import Config, config_from_dict, config_to_dict, dump_config
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.files import atomic_write_text, file_lock, read_json, write_aside
from tfmodels.plots import training_curves_png

FINISHED = "finished"


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def name(self) -> str:
        return self.root.resolve().name

    config = property(lambda self: self.root / "config.yaml")
    data_info = property(lambda self: self.root / "data.json")
    model = property(lambda self: self.root / "model.keras")
    encoder = property(lambda self: self.root / "encoder.keras")
    vocabulary = property(lambda self: self.root / "vocabulary.txt")
    characters = property(lambda self: self.root / "characters.json")
    bpe = property(lambda self: self.root / "bpe.json")
    source_bpe = property(lambda self: self.root / "source" / "bpe.json")  # an encoder-decoder's own source vocabulary
    preset = property(lambda self: self.root / "preset")
    adapters = property(lambda self: self.root / "adapters.npz")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best_weights = property(lambda self: self.root / "checkpoints" / "best.weights.h5")
    backup = property(lambda self: self.root / "checkpoints" / "backup")
    logs = property(lambda self: self.root / "logs")
    run_logs = property(lambda self: self.root / "logs" / "run")  # tfmodels's own TensorBoard run
    evaluation_logs = property(lambda self: self.root / "logs" / "evaluation")
    history = property(lambda self: self.root / "history.csv")
    training_curves = property(lambda self: self.root / "training_curves.png")
    metrics = property(lambda self: self.root / "metrics.json")

    def confusion_matrix(self, split: str) -> Path:
        return self.root / f"confusion_matrix_{split}.png"

    # Files that make a run folder's model usable beyond model.keras (copied into an export).
    assets = property(lambda self: [self.vocabulary, self.characters, self.bpe])  # (source/bpe.json: by the task)


def default_run_dir(config: Config) -> Path:
    """`runs/<config.name>` (a plain folder name: `Config.validate`, so that a config cannot write elsewhere)."""
    return Path("runs") / config.validate().name


def choose_run_dir(config: Config, now: float | None = None) -> tuple[Path, str | None]:
    """The folder a `train` without `--run-dir` uses, and why when it is not `runs/<name>`.

    `runs/<name>` while it is new or holds an unfinished run (a rerun after a crash resumes it). Once
    it holds a finished run, a second `train` of the config goes to a new folder named by the time,
    `runs/<name>-YYYYmmdd-HHMMSS`, and a rerun after a crash there resumes the newest such folder
    that holds an unfinished run of the same config. Nothing is ever overwritten.
    """
    import time

    base = default_run_dir(config)
    if read_json(RunPaths(base).metrics).get("status") != FINISHED:
        return base, None
    for folder in sorted(base.parent.glob(f"{base.name}-[0-9]*-[0-9]*"), reverse=True):
        paths = RunPaths(folder)
        if (folder.is_dir() and paths.config.is_file() and read_json(paths.metrics).get("status") != FINISHED
                and not _differences(config_to_dict(read_run_config(paths)), config_to_dict(config))):
            return folder, f"resuming the unfinished {folder} ({base} holds a finished run)"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    folder, n = base.parent / f"{base.name}-{stamp}", 1
    while folder.exists():
        n += 1
        folder = base.parent / f"{base.name}-{stamp}-{n}"
    return folder, f"{base} holds a finished run: this one trains in {folder} (--run-dir chooses the folder)"


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


def finished_run_of(paths: RunPaths, config: Config) -> dict | None:
    """The metrics of the finished run of exactly `config` in this folder, or None when there is none
    (`logging.verbose`, what the console printed while it trained, is no difference)."""
    if read_json(paths.metrics).get("status") != FINISHED or not paths.config.is_file():
        return None
    same = not [d for d in _differences(config_to_dict(read_run_config(paths)), config_to_dict(config))
                if d != "logging.verbose"]
    return read_json(paths.metrics) if same else None


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
            f"run folder '{paths.root}' already holds a finished run; --overwrite trains again in it (its files are "
            "deleted first), another --run-dir keeps both, and without --run-dir a new folder is named by the time"
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


def remove_finished_run(root: Path | str, log=lambda _: None) -> None:
    """`--overwrite`: deletes a run folder's finished run, so that the same folder trains again.

    Only a run folder (one with config.yaml) is deleted; an unfinished run is left to resume, and a
    folder that is not a run folder is refused by `check_run_dir` as before.
    """
    import shutil

    paths = RunPaths(Path(root))
    if paths.config.is_file() and read_json(paths.metrics).get("status") == FINISHED:
        log(f"--overwrite: deleting the finished run in {paths.root}")
        shutil.rmtree(paths.root)


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


class RunLock:
    """Holds a run folder for one `tfmodels train` at a time: `<parent>/.<name>.lock`, locked with `flock`.

    The lock file sits beside the folder, so that taking it writes nothing into a folder that a bad
    input must leave unmade. The kernel drops an `flock` when its process ends, SIGKILL included, so
    a killed holder never leaves the folder stuck; the file itself is removed on release. The lock is
    the project's one (`files.file_lock`).
    """

    def __init__(self, root: Path | str):
        root = Path(root)
        self.path = root.parent / f".{root.name}.lock"
        self.root = root
        self._held = None

    def __enter__(self) -> "RunLock":
        self._made_parent = not self.path.parent.exists()
        while True:
            held = contextlib.ExitStack()
            f = held.enter_context(file_lock(self.path, blocking=False))
            if f is None:
                held.close()
                holder = self.path.read_text().strip() if self.path.is_file() else ""
                raise RunDirError(f"run folder '{self.root}' is in use by another tfmodels train (pid "
                                  f"{holder or 'unknown'}); wait for it to finish, or give this run another --run-dir")
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file that the last holder removed after we opened it
                break
            held.close()
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._held = held
        return self

    def __exit__(self, *exc) -> None:
        if self._held is not None:
            self.path.unlink(missing_ok=True)  # while still held: no one else holds this file
            self._held.close()
            self._held = None
            if self._made_parent and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()  # a bad input leaves nothing behind, not even the parent folder


def write_training_curves(paths: RunPaths) -> Path | None:
    """Draws history.csv as training_curves.png (written aside and renamed); None without a history."""
    try:
        with open(paths.history, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    if not rows:
        return None
    history = {}
    for key in rows[0]:
        try:
            history[key] = [float(row[key]) for row in rows]
        except (TypeError, ValueError):
            continue
    try:
        trainer = read_run_config(paths).trainer
        by_steps = trainer.eval_interval if trainer.max_steps else None
    except RunDirError:
        by_steps = None
    points = f"{len(rows) * by_steps:,} steps" if by_steps else f"{len(rows)} epochs"
    png = training_curves_png(history, f"{paths.name}: {points}", steps_per_point=by_steps)
    return write_aside(paths.training_curves, lambda tmp: tmp.write_bytes(png))
