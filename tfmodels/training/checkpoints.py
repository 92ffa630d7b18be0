"""Checkpoints that survive a kill at any moment: the resumable backup and the best weights.

Keras's `BackupAndRestore` writes the weights in place and then, in a second file, the epoch: a
kill between the two pairs one epoch's weights with another's number, and a kill during the write
leaves a file that is only found bad when it is loaded. It also leaves out the random-number state
of dropout, so a resumed run draws other masks than a run that never stopped. Here the weights are
written to a temporary name and renamed; the JSON commit record (the format is in `resume.py`,
which reads the backups back), written the same way and last, is what makes the backup count.
`best.weights.h5` is written aside and renamed too, with `best.json` beside it saying which epoch
and value it holds.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from tfmodels.compat import lora_base, nested_layers, set_initial_epoch
from tfmodels.files import atomic_write_json, write_aside
from tfmodels.training.resume import BACKUP_NAME, ResumePoint, backup_files, lora_file, sha256

KEEP = 2  # backups kept: the newest, and the one before in case the newest turns out damaged


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    """`model.save_weights(path)` written aside, flushed to disk and renamed: the old file or the new, never half."""
    write_aside(path, model.save_weights, sync=True)


def _seed_variables(model: keras.Model) -> list:
    """The random-number states of dropout and other random layers (not part of Keras's weights files),
    in the model's order (their names get a suffix when a process builds the model twice)."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _lora_variables(model: keras.Model) -> list:
    """The raw variables of every layer with LoRA adapters: base matrix and the two factors, in model order.

    Keras's weights file stores such a layer's kernel merged with its adapters and zeroes the
    adapters when it loads it: a run resumed from that file alone computes the same function, but
    its adapters start again from zero on both sides, where no gradient flows, and stop learning.
    """
    variables = []
    for layer in nested_layers(model):
        if getattr(layer, "lora_enabled", False) and isinstance(layer, keras.layers.Embedding):
            variables += [lora_base(layer), layer.lora_embeddings_a, layer.lora_embeddings_b]
        elif getattr(layer, "lora_enabled", False):
            variables += [lora_base(layer), layer.lora_kernel_a, layer.lora_kernel_b]
    return variables


def _write_npz(arrays: list[np.ndarray]):
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, *arrays)
    return write


class ResumableBackup(keras.callbacks.Callback):
    """Restores `point` at the start of training; writes a backup at the end of every epoch."""

    def __init__(self, backup_dir: Path | str, point: ResumePoint | None = None, keep: int = KEEP):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.point = point or ResumePoint()
        self.keep = keep

    def on_train_begin(self, logs=None):
        if self.point.weights is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # its slots must exist to take the saved values
        self.model.load_weights(self.point.weights)
        seeds = _seed_variables(self.model)
        if len(seeds) != len(self.point.seed_states):
            raise ValueError(f"the backup holds {len(self.point.seed_states)} random-number states, the model has "
                             f"{len(seeds)}: it is not this model's backup")
        for variable, value in zip(seeds, self.point.seed_states):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        lora = _lora_variables(self.model)
        if lora or self.point.lora is not None:
            if self.point.lora is None:
                raise ValueError("the model has LoRA adapters but its backup does not hold them: it is not this "
                                 "model's backup")
            with np.load(self.point.lora) as saved:
                values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            if [v.shape for v in values] != [tuple(x.shape) for x in lora]:
                raise ValueError(f"the LoRA variables in {self.point.lora.name} do not fit this model's adapters")
            for variable, value in zip(lora, values):
                variable.assign(value)
        set_initial_epoch(self.model, self.point.epoch)  # fit (and our loop) start there

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights, commit = backup_files(self.backup_dir, done)
        save_weights_atomically(self.model, weights)
        seeds = [np.asarray(v).tolist() for v in _seed_variables(self.model)]
        record = {"epoch": done, "sha256": sha256(weights), "bytes": weights.stat().st_size, "seed_states": seeds}
        lora = _lora_variables(self.model)
        if lora:
            path = lora_file(self.backup_dir, done)
            write_aside(path, _write_npz([keras.ops.convert_to_numpy(v) for v in lora]), sync=True)
            record["lora_sha256"] = sha256(path)
        atomic_write_json(commit, record)
        self._prune()

    def _prune(self):
        commits = sorted(p for p in self.backup_dir.iterdir() if BACKUP_NAME.match(p.name))
        for old in commits[:-self.keep]:
            old.unlink(missing_ok=True)  # the record first: a backup without one never counts
            old.with_name(old.name.replace(".json", ".weights.h5")).unlink(missing_ok=True)
            old.with_name(old.name.replace(".json", ".lora.npz")).unlink(missing_ok=True)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by `monitor`, written aside and renamed, with `best.json` beside.

    `best` starts at the value a resumed run had reached, so that a worse epoch after the resume
    does not replace the checkpoint.
    """

    def __init__(self, path: Path | str, monitor: str, mode: str, best: float | None = None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.path, self.monitor, self.mode, self.best = Path(path), monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        value = float(value)
        if self.best is not None and (value >= self.best if self.mode == "min" else value <= self.best):
            return
        self.best = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lora = _lora_variables(self.model)
        if lora:  # the adapters as they are: the weights file holds them merged (see _lora_variables)
            write_aside(best_lora_path(self.path), _write_npz([keras.ops.convert_to_numpy(v) for v in lora]), sync=True)
        save_weights_atomically(self.model, self.path)
        atomic_write_json(self.path.with_name("best.json"), {"epoch": epoch + 1, "monitor": self.monitor,
                                                              "value": value})


def best_lora_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name.replace(".weights.h5", ".lora.npz"))


def load_best_weights(model: keras.Model, path: Path) -> None:
    """`model.load_weights(path)`, then a LoRA model's base matrices and adapters as they were at that
    epoch (Keras's file alone would leave the merged matrix as base and the adapters at zero)."""
    model.load_weights(path)
    lora = _lora_variables(model)
    if lora and best_lora_path(path).is_file():
        with np.load(best_lora_path(path)) as saved:
            for i, variable in enumerate(lora):
                variable.assign(saved[f"arr_{i}"])


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, which on a resumed run counts the epochs without improvement from before the stop."""

    def __init__(self, *args, history_values: list[float] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.history_values = list(history_values)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.history_values and self.monitor_op is None:
            self._set_monitor_op()
        for value in self.history_values:  # replay the finished epochs' monitored values
            if self.best is None or self._is_improvement(value, self.best):
                self.best, self.wait = value, 0
            else:
                self.wait += 1
