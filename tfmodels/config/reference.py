"""The config reference (docs/config.md), generated from the schema itself: every key, its type, its
default and the comment beside it in `schema.py`, section by section.

    python -m tfmodels.config.reference > docs/config.md

`tests/config/test_reference.py` fails when docs/config.md is not what this prints (a key added,
renamed or re-documented without regenerating it).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing

from tfmodels.config import schema


def _field_notes() -> dict[str, dict[str, str]]:
    """{class name: {field: its comment}}: the comment lines just above a field and the one after it."""
    source = inspect.getsource(schema)
    lines = source.splitlines()
    notes: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = notes.setdefault(node.name, {})
        for item in node.body:
            if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
                continue
            above, row = [], item.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#"):
                above.insert(0, lines[row].strip().lstrip("#").strip())
                row -= 1
            line = lines[item.end_lineno - 1]
            inline = line[line.index("  # ") + 4:].strip() if "  # " in line else ""
            fields[item.target.id] = " ".join(part for part in [*above, inline] if part)
    return notes


def _type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" \\| null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _default(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if value else '""'
    return str(value)


def config_reference() -> str:
    notes = _field_notes()
    out = ["# Config reference", "",
           "Generated from `tfmodels/config/schema.py` by `python -m tfmodels.config.reference > docs/config.md`; "
           "`tests/config/test_reference.py` fails when this page is stale. Ranges and the rules that tie keys "
           "together are each section's `validate` in the schema (and each kind's in `tfmodels/tasks/registry.py`); "
           "their messages are in [errors.md](errors.md). Any key can be set with `--set key=value`.", ""]

    def section(cls, prefix: str) -> None:
        hints = typing.get_type_hints(cls, vars(schema))
        rows, nested = [], []
        instance = cls()
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                nested.append((tp, f"{prefix}{f.name}."))
                continue
            note = notes.get(cls.__name__, {}).get(f.name, "").replace("|", "\\|")
            rows.append(f"| `{prefix}{f.name}` | {_type_name(tp)} | `{_default(getattr(instance, f.name))}` | {note} |")
        if rows:
            title = prefix.rstrip(".") or "top level"
            doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            out.extend([f"## `{title}`", "", *([doc, ""] if doc and not doc.startswith(cls.__name__) else []),
                        "| key | type | default | what it is |", "|---|---|---|---|", *rows, ""])
        for tp, nested_prefix in nested:
            section(tp, nested_prefix)

    section(schema.Config, "")
    return "\n".join(out)


if __name__ == "__main__":
    print(config_reference(), end="")
