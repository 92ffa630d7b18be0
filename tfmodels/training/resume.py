"""Resuming a run: where it starts again, and the state of the epochs before that.

A backup (written by `checkpoints.ResumableBackup`) is two files in `checkpoints/backup/`:

    epoch-000003.weights.h5   model and optimizer after 3 epochs (Keras's format)
    epoch-000003.json         the commit: epoch, the weights' SHA-256 and size, the dropout
                              random-number states
    epoch-000003.lora.npz     only with LoRA adapters: their raw factors and base kernels (Keras's
                              weights file holds those layers' kernels merged and zeroes the
                              adapters when it is loaded); its SHA-256 is in the commit too

A resumed run starts after the newest backup whose weights match their checksum; a truncated or
damaged one is reported and skipped, and with none usable the run starts fresh and says so. The
epochs before the resume point give back their history (rows of history.csv from epochs that will
run again are dropped) and the monitored values, from which the best value and early stopping's
count continue. Together these make a resumed run end as one never stopped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from tfmodels.files import atomic_write_text, read_json, sha256_of

BACKUP_NAME = re.compile(r"^epoch-(\d{6})\.json$")


def backup_files(backup_dir: Path, epoch: int) -> tuple[Path, Path]:
    """(weights, commit record) of the backup after `epoch` epochs."""
    return backup_dir / f"epoch-{epoch:06d}.weights.h5", backup_dir / f"epoch-{epoch:06d}.json"


def lora_file(backup_dir: Path, epoch: int) -> Path:
    """The raw LoRA variables of the backup after `epoch` epochs (runs with adapters only)."""
    return backup_dir / f"epoch-{epoch:06d}.lora.npz"


@dataclass
class ResumePoint:
    """Where a resumed run starts: the epoch, its backup (None: from scratch), and what was skipped."""

    epoch: int = 0
    weights: Path | None = None
    seed_states: list = field(default_factory=list)
    lora: Path | None = None  # the raw LoRA variables, when the run has adapters
    skipped: list[str] = field(default_factory=list)


@dataclass
class ResumeState:
    """What a (possibly) resumed run starts from: the backup, and the monitored values of the epochs before it."""

    point: ResumePoint = field(default_factory=ResumePoint)
    history_values: list[float] = field(default_factory=list)

    def best(self, monitor: str) -> float | None:
        return best_value(self.history_values, monitor)


def resume_state(backup_dir: Path, history_csv: Path, monitor: str, resuming: bool) -> ResumeState:
    """The state a run starts from: nothing for a new run; for a resumed one, the newest good backup and
    the history before it (history.csv is trimmed to those epochs)."""
    if not resuming:
        return ResumeState()
    point = find_resume_point(backup_dir)
    return ResumeState(point, resume_history(history_csv, point.epoch, monitor))


def find_resume_point(backup_dir: Path) -> ResumePoint:
    """The newest complete, undamaged backup in `backup_dir`; reads only."""
    point = ResumePoint()
    if not backup_dir.is_dir():
        return point
    commits = sorted((int(m.group(1)), p) for p in backup_dir.iterdir() if (m := BACKUP_NAME.match(p.name)))
    for epoch, commit in reversed(commits):
        weights, _ = backup_files(backup_dir, epoch)
        problem = _check(commit, weights)
        if problem is None:
            point.epoch, point.weights = epoch, weights
            record = read_json(commit)
            point.seed_states = record.get("seed_states", [])
            point.lora = lora_file(backup_dir, epoch) if "lora_sha256" in record else None
            return point
        point.skipped.append(f"the backup after epoch {epoch} ({weights.name}) {problem}")
    return point


def describe(point: ResumePoint, steps_per_epoch: int | None = None) -> str:
    """Where a resumed run goes on; `steps_per_epoch` for a run trained by steps (its "epochs" are
    evaluation periods: it says the optimizer step)."""
    skipped = "".join(f"; {s}, so it was skipped" for s in point.skipped)
    if point.weights is None:
        return "no usable backup: training starts from the beginning" + skipped
    after = f"step {point.epoch * steps_per_epoch:,}" if steps_per_epoch else f"epoch {point.epoch}"
    return f"resuming after {after} from {point.weights.name}" + skipped


def _check(commit: Path, weights: Path) -> str | None:
    try:
        record = json.loads(commit.read_text())
        expected, size = record["sha256"], int(record["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return "has an unreadable record"
    if not weights.is_file():
        return "has lost its weights file"
    if weights.stat().st_size != size:
        return f"is truncated or damaged ({weights.stat().st_size:,} bytes, {size:,} written)"
    if sha256(weights) != expected:
        return "is damaged (its checksum does not match)"
    if "lora_sha256" in record:
        lora = lora_file(commit.parent, int(BACKUP_NAME.match(commit.name).group(1)))
        if not lora.is_file() or sha256(lora) != record["lora_sha256"]:
            return f"has a missing or damaged {lora.name}"
    return None


def sha256(path: Path) -> str:
    return sha256_of(path)


def resume_history(history_csv: Path, epoch: int, monitor: str) -> list[float]:
    """For a run resumed after `epoch` epochs: the `monitor` values of those epochs, in order.

    Rows of history.csv from epochs that will be trained again (and a row cut short by a kill)
    are dropped, so the history has one row an epoch whatever crashed when.
    """
    if not history_csv.is_file():
        return []
    with open(history_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kept = []
    for row in rows:
        try:
            if int(row["epoch"]) < epoch and None not in row.values():
                kept.append(row)
        except (TypeError, ValueError, KeyError):
            continue  # a half-written line
    atomic_write_text(history_csv, _csv_text(kept))
    values = []
    for row in kept:
        try:
            values.append(float(row[monitor]))
        except (TypeError, ValueError, KeyError):
            pass
    return values


def _csv_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def monitor_mode(monitor: str) -> str:
    """"max" for accuracies, F1, AUC, BLEU and ROUGE, else "min" (losses)."""
    return "max" if any(word in monitor for word in ("acc", "f1", "auc", "bleu", "rouge", "exact_match")) else "min"


def best_value(values: list[float], monitor: str) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if monitor_mode(monitor) == "max" else min(finite)
