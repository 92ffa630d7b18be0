"""Other libraries' private APIs live in `tfmodels/compat.py` alone, and each still works on the installed
Keras and keras-hub (an upgrade that moves one fails here, by name, not deep inside a run)."""

import ast
from pathlib import Path

import keras
import keras_hub
import numpy as np

from tfmodels import compat

PACKAGE = Path(__file__).resolve().parents[1] / "tfmodels"


def private_uses(path: Path) -> list[str]:
    """`x._name` in `path` where x is not our own object (self, cls, super()) or a module of ours."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            ours = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
                isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super")
            if not ours:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}")
    return found


def test_no_private_api_outside_the_compat_module():
    hits = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "compat.py" for hit in private_uses(path)]
    assert hits == []


def test_the_check_sees_a_private_use():
    planted = PACKAGE / "compat.py"
    assert private_uses(planted)  # compat itself is made of them


def test_each_private_api_still_works_on_the_installed_libraries():
    inner = keras.layers.Dense(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), inner])
    assert inner in compat.nested_layers(model) and compat.is_leaf(inner) and inner in compat.child_layers(model)

    inner.enable_lora(2)
    assert compat.lora_base(inner) is compat.raw_kernel(inner) and tuple(compat.lora_base(inner).shape) == (5, 3)
    embedding = keras.layers.Embedding(10, 4)
    embedding.build((None,))
    embedding.enable_lora(2)
    assert tuple(compat.lora_base(embedding).shape) == (10, 4)

    compat.set_initial_epoch(model, 3)
    assert compat.initial_epoch(model) == 3

    dense = keras.layers.Dense(2)
    dense.build((None, 2))
    with compat.unlocked(dense):
        dense.extra = dense.add_weight(name="extra", shape=(1,), initializer="zeros")
    assert any(w.name == "extra" for w in dense.weights)

    block = keras_hub.layers.TransformerEncoder(intermediate_dim=8, num_heads=2)
    block.build((None, 3, 4))
    parts = compat.keras_hub_block(block)
    assert tuple(parts["query"].kernel.shape) == (4, 2, 2) and tuple(parts["ffn_output"].kernel.shape) == (8, 4)
    assert np.isfinite(np.asarray(parts["attention_norm"].gamma)).all()
