"""The package's layering, read from the imports (`ast`): dependencies point one way, no cycles.

docs/design.md#the-layers says the same in prose; this is the table that holds it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfmodels"

# What each part of tfmodels may import (besides itself), lowest first. A part is a top-level
# module or a sub-package; "tfmodels" is the package's own __init__ (the public face).
ALLOWED = {
    "compat": set(),  # other libraries' private APIs, in one place: every part may use it (below)
    "errors": set(),
    "files": {"errors"},
    "plots": set(),
    "config": {"errors"},
    "runtime": {"errors"},
    "run_folder": {"errors", "files", "plots", "config"},
    "data": {"errors", "files", "config", "runtime"},
    "layers": set(),
    "networks": {"errors", "layers"},
    "models": {"errors", "config", "layers", "networks"},
    "converters": {"errors", "files", "runtime", "data", "layers", "networks", "models"},
    "transforms": {"errors", "config", "layers", "networks", "models"},
    "decoding": {"errors", "layers", "models"},
    "training": {"errors", "files", "config"},  # Keras plumbing: no task, model, data or run folder
    "saving": {"errors", "layers", "networks", "models", "transforms", "training"},
    "tasks": {"errors", "files", "plots", "config", "runtime", "run_folder", "data", "layers", "networks", "models",
              "converters", "transforms", "decoding", "training", "saving"},
    "verbs": {"errors", "files", "plots", "config", "runtime", "run_folder", "data", "layers", "networks", "models",
              "converters", "transforms", "decoding", "training", "saving", "tasks"},
    # `tfmodels search` is a verb in four files: it trains its trials with the `train` verb.
    "search": {"errors", "files", "plots", "config", "training", "verbs"},
    "cli": {"tfmodels", "errors", "config", "runtime", "run_folder", "verbs", "search"},
    "__main__": {"cli"},
    "tfmodels": {"runtime", "config", "saving", "tasks", "verbs"},
}
for _part, _allowed in ALLOWED.items():
    if _part != "compat":
        _allowed.add("compat")


def part_of(module: str) -> str:
    """`tfmodels.data.text` -> "data"; `tfmodels` -> "tfmodels"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tfmodels"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    relative = path.relative_to(package.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every tfmodels module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "tfmodels":
            if node.module == "tfmodels":  # `from tfmodels import runtime` imports tfmodels.runtime
                found.update(f"tfmodels.{a.name}" if a.name != "__version__" else "tfmodels" for a in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "tfmodels")
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p, package): imports_of(p) for p in sorted(package.rglob("*.py"))}


def against_the_direction(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        mine = part_of(module)
        if mine not in ALLOWED:
            wrong.append(f"{module}: the part '{mine}' is not in the layering table (tests/test_layering.py)")
            continue
        for other in sorted(imported):
            theirs = part_of(other)
            if theirs != mine and theirs not in ALLOWED[mine]:
                wrong.append(f"{module} imports {other}: '{mine}' may import only {sorted(ALLOWED[mine])}")
    return wrong


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (each reported once, from its smallest node)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):]
                start = cycle.index(min(cycle))
                found.append(cycle[start:] + cycle[:start])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, imported in graph.items():
        # The public __init__ sits on top of everything by design; its own imports are not edges back.
        edges.setdefault(part_of(module), set()).update(part_of(o) for o in imported if part_of(o) != part_of(module))
    return edges


def test_every_import_points_down_the_layers():
    assert against_the_direction(import_graph()) == []


def test_no_cycle_between_parts_or_modules():
    graph = import_graph()
    assert cycles(package_edges(graph)) == []
    module_edges = {m: {o for o in imported if o in graph and o != m} for m, imported in graph.items()}
    # A package's __init__ importing its own modules is how a package exposes names, not a cycle.
    module_edges = {m: {o for o in e if not (o.startswith(m + ".") or m.startswith(o + "."))}
                    for m, e in module_edges.items()}
    assert cycles(module_edges) == []


@pytest.mark.parametrize("planted, part", [
    ("from tfmodels.tasks import task_for\n", "training"),  # plumbing that knows a task
    ("import tfmodels.models\n", "layers"),  # a layer that knows a model
    ("from tfmodels.verbs.train import train\n", "tasks"),  # a task that knows a verb
])
def test_a_planted_wrong_import_fails(tmp_path, planted, part):
    """The check is not vacuous: the real tree with one wrong import added fails it."""
    import shutil

    copy = tmp_path / "tfmodels"
    shutil.copytree(PACKAGE, copy, symlinks=True)
    target = sorted((copy / part).glob("*.py"))[-1]
    target.write_text(planted + target.read_text(encoding="utf-8"), encoding="utf-8")
    problems = against_the_direction(import_graph(copy))
    assert len(problems) == 1 and f"'{part}' may import only" in problems[0]


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

