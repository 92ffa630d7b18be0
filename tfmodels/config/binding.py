"""Binding YAML to the schema: reading, type-checking, dotted `--set key=value` overrides, writing.

A config file is YAML whose sections mirror the dataclasses of `tfmodels.config.schema`. Every key
is checked: an unknown key names the nearest valid one, a value of the wrong type says what was
expected, and the bound config is validated (`Config.validate`). Nothing is evaluated: YAML is
read with `yaml.safe_load` and values are only type-checked.

The configs a user reads in `configs/` are also the package's own (`shipped_config`): the demo
trains exactly those files.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from importlib import resources
from typing import Any, Literal, Union

import yaml

from tfmodels.config.kinds import KINDS, KindName
from tfmodels.config.schema import Config
from tfmodels.errors import ConfigError

SHIPPED_CONFIGS = "configs"  # package data: tfmodels/configs is the repository's configs/ folder


def shipped_config(name: str) -> Config:
    """`configs/<name>.yaml` as installed with the package (the demo's defaults are two of them)."""
    files = resources.files("tfmodels") / SHIPPED_CONFIGS
    path = files / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no shipped config named {name!r}; the shipped ones: {', '.join(shipped_config_names())}")
    with resources.as_file(path) as real:
        return load_config(real)


def demo_config() -> Config:
    """The built-in default run of `tfmodels demo`: configs/mlp_digits.yaml."""
    return shipped_config("mlp_digits")


def demo_text_config() -> Config:
    """The demo's Transformer on the built-in synthetic reviews: configs/encoder_synthetic.yaml."""
    return shipped_config("encoder_synthetic")


def flat_dict(config: Config) -> dict:
    """The config's settings as flat `section.key` -> bool, int, float or str (lists become text, None "none")."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif value is None:
            flat[prefix] = "none"
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix] = value
        else:
            flat[prefix] = str(value)

    walk("", config_to_dict(config))
    return flat



def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(c) for c in typing.get_args(tp))
    if tp is KindName:
        return " | ".join(repr(k) for k in KINDS)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _check(value: Any, tp: Any, where: str) -> Any:
    """Returns `value` converted to `tp`, or raises ConfigError naming `where`."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _check(value, option, where)
            except ConfigError:
                continue
    elif origin is Literal:
        if isinstance(value, bool) and ("on" if value else "off") in typing.get_args(tp):
            return "on" if value else "off"  # YAML 1.1 reads `xla: on` as true
        if value in typing.get_args(tp):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item_type,) = typing.get_args(tp)
            return [_check(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is KindName:
        if isinstance(value, str) and value in KINDS:
            return value
        raise ConfigError(f"config key '{where}': expected {' | '.join(repr(k) for k in KINDS)}, got {value!r}")
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know is a bug here
        raise TypeError(f"unsupported config field type {tp!r} at {where}")
    raise ConfigError(f"config key '{where}': expected {_type_name(tp)}, got {value!r}")


def _unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    full = f"{where}.{key}" if where else key
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key '{full}': {hint}")


def _from_dict(cls: type, data: Any, where: str = "") -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{where or '<top>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(str(key), names, where)
        kwargs[key] = _check(value, hints[key], f"{where}.{key}" if where else key)
    return cls(**kwargs)


def config_from_dict(data: Any) -> Config:
    """The config that `data` (parsed YAML) describes, types checked and validated."""
    return _from_dict(Config, data).validate()


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load`, except that a key given twice in one mapping is an error (YAML lets the last win)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"the key '{key}' is given twice: at line {seen[key] + 1} and at line "
                              f"{key_node.start_mark.line + 1}; keep one")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def shipped_config_names() -> list[str]:
    files = resources.files("tfmodels") / SHIPPED_CONFIGS
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_config(path: str | os.PathLike | None) -> Config:
    """Reads a YAML config file; None gives the defaults. A plain name that is no file here (`mlp_digits`)
    is the shipped config of that name."""
    if path is None:
        return Config()
    name = str(path)
    if not os.path.exists(name) and os.sep not in name and not name.endswith((".yaml", ".yml")):
        if name in shipped_config_names():
            return shipped_config(name)
        raise ConfigError(f"config '{name}' is neither a file nor a shipped config; give a YAML file, or one of "
                          f"{', '.join(shipped_config_names())}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader)
    except ConfigError as e:
        raise ConfigError(f"config file '{path}': {e}") from None
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file '{path}' cannot be read: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file '{path}' is not valid YAML: {_one_line(e)}") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def save_config(config: Config, path: str | os.PathLike) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dump_config(config))


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Returns a copy of `config` with each `a.b.c=value` applied (value parsed as YAML)."""
    data = config_to_dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. trainer.epochs=5)")
        parts = key.split(".")
        node, cls, where = data, Config, ""
        for i, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                raise _unknown_key(part, names, where)
            where = f"{where}.{part}" if where else part
            tp = typing.get_type_hints(cls)[part]
            if i == len(parts) - 1:
                node[part] = _parse_override_value(raw, tp, where)
            elif dataclasses.is_dataclass(tp):
                node, cls = node[part], tp
            else:
                raise ConfigError(f"config key '{where}' is a value, not a section: cannot set '{key}'")
    return config_from_dict(data)


def _parse_override_value(raw: str, tp: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        raise ConfigError(f"config key '{where}' is a section: set one of its keys, e.g. {where}.<key>=...")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        if raw.strip().startswith("["):
            raise ConfigError(f"config key '{where}': cannot read the list {raw!r}; quote each item, "
                              f"e.g. {where}='[\"text:a.txt\", \"text:b.txt\"]'") from None
        value = raw
    # A string field takes the text as written (`name=2024` is the string "2024").
    if _accepts_str(tp) and not isinstance(value, str) and value is not None:
        if not _accepts(value, tp):
            value = raw
    return value


def _accepts_str(tp: Any) -> bool:
    if tp is str:
        return True
    if typing.get_origin(tp) in (Union, types.UnionType):
        return any(_accepts_str(a) for a in typing.get_args(tp))
    return False


def _accepts(value: Any, tp: Any) -> bool:
    try:
        _check(value, tp, "")
        return True
    except ConfigError:
        return False


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
