"""The search's plan: what a `tfmodels search` asks for, checked before any trial runs, and the study
folder it belongs to (a folder made for another search is refused)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tfmodels.config import Config, apply_overrides, config_to_dict, load_config
from tfmodels.config.kinds import kind_rules
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.files import read_json
from tfmodels.search.space import Parameter, grid_size, load_space

# A kind of model says which validation metrics its runs log (tasks/registry.py); a loss or a perplexity
# is minimised, every other metric (accuracy, F1, BLEU, ...) maximised.
MINIMIZED = ("loss", "perplexity")


def direction_of(objective: str) -> str:
    return "minimize" if objective.removeprefix("val_") in MINIMIZED else "maximize"

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("median", "halving", "none")


@dataclass
class SearchPlan:
    """What one search asks for, checked before any trial runs."""

    config_path: str
    overrides: list[str]
    base: Config
    space: list[Parameter]
    study_dir: Path
    trials: int = 20
    max_seconds: float | None = None
    sampler: str = "tpe"
    objective: str = "val_accuracy"
    pruner: str = "median"
    storage: str | None = None  # None: sqlite in the study folder
    folds: int = 0  # > 0: each trial is a cross-validation of that many folds, its objective their mean
    notes: list[str] = field(default_factory=list)  # what the plan changed, said once

    @property
    def direction(self) -> str:
        return direction_of(self.objective)

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.study_dir / 'study.db').resolve()}"


def parse_duration(text: str | None) -> float | None:
    """'30m', '2h', '90s', '45' (seconds) -> seconds; None -> None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--max-time {text!r}: give a positive duration such as 90s, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def logged_objectives(config: Config) -> tuple[str, ...]:
    """The validation metrics a run of `config` logs every epoch (what a search may optimize): its kind's."""
    return kind_rules(config.model.type).objectives


def make_plan(config_path: str, space_path: str, overrides: list[str] = (), trials: int = 20,
              max_time: str | None = None, sampler: str = "tpe", objective: str = "val_accuracy",
              study_dir: str | os.PathLike | None = None, pruner: str = "median", storage: str | None = None,
              folds: int = 0) -> SearchPlan:
    base = apply_overrides(load_config(config_path), list(overrides))
    if base.trainer.max_steps is not None:
        raise ConfigError(f"'{config_path}' trains by steps (trainer.max_steps); a search prunes and compares "
                          "epochs: search a config trained by epochs")
    space = load_space(space_path, base)
    if objective not in logged_objectives(base):
        raise ConfigError(f"--objective {objective}: a {base.model.type} run does not log it; it logs "
                          f"{', '.join(logged_objectives(base))}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r}: give one of {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner {pruner!r}: give one of {', '.join(PRUNERS)}")
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if folds == 1 or folds < 0:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds (0: none)")
    if folds and not kind_rules(base.model.type).folds:
        raise ConfigError(f"--folds: model.type={base.model.type} is not a classifier; cross-validate classifiers only")
    plan = SearchPlan(str(config_path), list(overrides), base, space,
                      Path(study_dir) if study_dir else Path("studies") / base.name, trials,
                      parse_duration(max_time), sampler, objective, "none" if folds else pruner, storage, folds)
    if folds and pruner != "none":
        plan.notes.append(f"--folds {folds}: each trial is the mean of {folds} runs, compared when all have finished "
                          "(no pruning after an epoch)")
    if sampler == "grid":
        size = grid_size(space)
        if size is None:
            floats = [p.key for p in space if p.grid is None]
            raise ConfigError(f"--sampler grid: {', '.join(floats)} is a float range, which a grid cannot list; "
                              "give a list of choices, or use --sampler tpe or random")
        if size > trials:
            raise ConfigError(f"--sampler grid: the grid has {size} points and --trials is {trials}; give "
                              f"--trials {size}, fewer choices, or --sampler tpe")
        if size < trials:
            plan.notes.append(f"the grid has {size} points: {size} trials, not {trials}")
            plan.trials = size
    return plan


def study_record(plan: SearchPlan) -> dict:
    return {"config": config_to_dict(plan.base), "config_path": plan.config_path, "overrides": plan.overrides,
            "space": [p.__dict__ | {"choices": list(p.choices)} for p in plan.space],
            "objective": plan.objective, "sampler": plan.sampler, "pruner": plan.pruner, "trials": plan.trials,
            **({"folds": plan.folds} if plan.folds else {})}


def check_study_dir(plan: SearchPlan) -> bool:
    """Whether the study folder holds this search already (a resume); refuses one made for another."""
    record_path = plan.study_dir / "study.json"
    if not record_path.is_file():
        if plan.study_dir.exists() and any(plan.study_dir.iterdir()):
            raise RunDirError(f"--study-dir '{plan.study_dir}' holds files but no study.json: not a study folder; "
                              "give an empty or new folder")
        return False
    old, new = read_json(record_path), json.loads(json.dumps(study_record(plan)))
    for key in ("config", "space", "objective", "sampler", "folds"):
        if old.get(key) != new.get(key):
            what = differences(old.get(key), new[key]) if key == "config" else [f"{key}: {old.get(key)!r} there"]
            raise RunDirError(f"study folder '{plan.study_dir}' was made for another search "
                              f"({'; '.join(what[:3])}); give another --study-dir, or the same config and space")
    return True


def differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return [] if a == b else [f"{prefix}: {a!r} there, {b!r} here"]


