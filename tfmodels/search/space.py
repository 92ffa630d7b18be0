"""A search space: which config keys a hyper-parameter search varies, and over what.

A space file maps dotted config keys (those `--set` takes) to what a trial may give them:

    trainer.learning_rate: {log_uniform: [1.0e-4, 3.0e-3]}   # a float, uniform in log space
    trainer.dropout: {uniform: [0.0, 0.3]}                      # a float, uniform
    model.encoder.width: {int_uniform: [64, 256], step: 64}     # an integer: 64, 128, 192 or 256
    model.encoder.num_layers: [1, 2, 4]                         # one of these values

Every key and every value is checked against the config schema before the first trial: an unknown key
names the nearest one (as `--set` does), a value the key cannot take is refused with the schema's own
line, and a range's ends are applied to the config so that its rules (`dropout < 1`, ...) see them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass

import yaml

from tfmodels.config import Config, apply_overrides
from tfmodels.errors import ConfigError

RANGES = ("uniform", "log_uniform", "int_uniform")


@dataclass(frozen=True)
class Parameter:
    """One searched key: `choices` (a list of values), or a range `kind` over [low, high]."""

    key: str
    choices: tuple = ()
    kind: str = "choice"  # "choice" or one of RANGES
    low: float = 0.0
    high: float = 0.0
    step: int | None = None  # int_uniform only

    @property
    def grid(self) -> tuple | None:
        """The values a grid enumerates: the choices, an int range with its step; None for a float range."""
        if self.kind == "choice":
            return self.choices
        if self.kind == "int_uniform":
            return tuple(range(int(self.low), int(self.high) + 1, self.step or 1))
        return None

    def override(self, value) -> str:
        """The `--set` override that gives this key `value` (JSON is YAML: types are kept)."""
        return f"{self.key}={json.dumps(value)}"


def load_space(path: str | os.PathLike, base: Config) -> list[Parameter]:
    """The space in `path`, every key and value checked against `base` (the config the trials start from)."""
    where = f"search space '{path}'"
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; give a YAML file of `dotted.key: [choices]` or "
                          "`dotted.key: {log_uniform: [low, high]}` lines") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where} is not YAML: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where} names no key; give `dotted.key: [choices]` or "
                          "`dotted.key: {uniform|log_uniform|int_uniform: [low, high]}` lines")
    return [parameter(str(key), value, base, where) for key, value in data.items()]


def parameter(key: str, spec, base: Config, where: str = "search space") -> Parameter:
    """One entry of a space, checked: the key exists, and every value it may take is one the config accepts."""
    field = field_type(key, base)  # refuses an unknown key, naming the nearest one
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: '{key}' has an empty list of choices; give at least one value")
        if len({json.dumps(v, sort_keys=True) for v in spec}) < len(spec):
            raise ConfigError(f"{where}: '{key}' lists a choice twice: {spec}")
        for value in spec:
            check_value(key, value, base, where)
        return Parameter(key, choices=tuple(spec))
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: '{key}' is {spec!r}; give a list of choices, or "
                          f"{{uniform|log_uniform|int_uniform: [low, high]}}")
    kinds = [k for k in spec if k in RANGES]
    others = sorted(set(spec) - set(RANGES) - {"step"})
    if len(kinds) != 1 or others:
        raise ConfigError(f"{where}: '{key}' is {spec!r}; a range is exactly one of {', '.join(RANGES)} "
                          "(with `step` for int_uniform), e.g. {log_uniform: [1.0e-4, 3.0e-3]}")
    kind, ends = kinds[0], spec[kinds[0]]
    if (not isinstance(ends, list) or len(ends) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ends)):
        raise ConfigError(f"{where}: '{key}': {kind} takes [low, high] as two numbers, got {ends!r}")
    low, high = ends
    numeric = field_accepts(field, int) if kind == "int_uniform" else field_accepts(field, float)
    if not numeric:
        raise ConfigError(f"{where}: '{key}' takes {type_name(field)}, so it cannot be searched over "
                          f"{kind} (a range of {'integers' if kind == 'int_uniform' else 'floats'}); "
                          "give a list of choices")
    if kind == "int_uniform" and not (isinstance(low, int) and isinstance(high, int)):
        raise ConfigError(f"{where}: '{key}': int_uniform takes two integers, got {ends!r}")
    if not low < high:
        raise ConfigError(f"{where}: '{key}': {kind} needs low < high, got [{low}, {high}]")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: '{key}': log_uniform needs low > 0, got {low}")
    step = spec.get("step")
    if step is not None and (kind != "int_uniform" or not isinstance(step, int) or isinstance(step, bool)
                             or step < 1 or (high - low) % step):
        raise ConfigError(f"{where}: '{key}': `step` is for int_uniform, a positive integer that divides "
                          f"high - low; got step {step!r} for {kind} [{low}, {high}]")
    found = Parameter(key, kind=kind, low=low, high=high, step=step)
    # Every integer a trial may draw, when they are few (a width must divide by the heads...); else the ends.
    for value in found.grid if found.grid is not None and len(found.grid) <= 1000 else (low, high):
        check_value(key, value, base, where)
    return found


def grid_size(space: list[Parameter]) -> int | None:
    """How many points a grid over `space` has; None when a float range makes it infinite."""
    grids = [p.grid for p in space]
    return None if any(g is None for g in grids) else math.prod(len(g) for g in grids)


def check_value(key: str, value, base: Config, where: str) -> None:
    try:
        apply_overrides(base, [f"{key}={json.dumps(value)}"])
    except ConfigError as error:
        raise ConfigError(f"{where}: '{key}' cannot be {value!r}: {error}") from None


def field_type(key: str, base: Config):
    """The schema's type of the dotted `key` (an unknown key is refused as `--set` refuses it)."""
    cls, tp = Config, None
    for i, part in enumerate(key.split(".")):
        if cls is None:
            raise ConfigError(f"config key '{'.'.join(key.split('.')[:i])}' is a value, not a section")
        if part not in [f.name for f in dataclasses.fields(cls)]:
            apply_overrides(base, [f"{key}=0"])  # raises the `--set` error: the nearest key
        tp = typing.get_type_hints(cls)[part]
        cls = tp if dataclasses.is_dataclass(tp) else None
    if cls is not None:
        raise ConfigError(f"config key '{key}' is a section: search one of its keys, e.g. {key}.<key>")
    return tp


def field_accepts(tp, number: type) -> bool:
    """Whether a field of type `tp` holds a `number` (int or float; Optional[...] included)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(field_accepts(a, number) for a in typing.get_args(tp))
    return tp is number or (number is int and tp is float)


def type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
