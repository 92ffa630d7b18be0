"""A kind of model is one task module and one registry entry, and the verbs know none.

A toy task written here (a few lines: which of two corners of a 2 x 2 image is brighter) is
registered as `model.type=toy` and runs through train, evaluate, export, predict and search like
the shipped kinds; and no verb, CLI or config rule outside `tfmodels/tasks/` names a kind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.config import Config, apply_overrides
from tfmodels.errors import ConfigError
from tfmodels.tasks import KINDS, KindRules, register_kind, task_for, unregister_kind
from tfmodels.tasks.base import Serving, Task, TaskData

PACKAGE = Path(__file__).resolve().parents[2] / "tfmodels"
SHAPE = (2, 2)


def toy_examples(n: int, seed: int):
    """Images of 2 x 2 pixels; the label says whether the top-left pixel outshines the bottom-right one."""
    x = np.random.default_rng(seed).random((n, *SHAPE)).astype(np.float32)
    return x, (x[:, 0, 0] > x[:, 1, 1]).astype(np.int64)


class ToyTask(Task):
    input_name = "pixels"

    def load(self):
        return {"train": toy_examples(256, 0), "validation": toy_examples(128, 1)}

    def prepare(self, splits, resume_from=None):
        return TaskData(splits, num_classes=2, train_examples=len(splits["train"][0]))

    def datasets(self, data, global_batch, seed, epochs, first_epoch=0):
        batches = {role: tf.data.Dataset.from_tensor_slices(xy).batch(global_batch) for role, xy in data.splits.items()}
        return batches["train"].repeat(), {"validation": batches["validation"]}

    def build_model(self, data):
        model = tf.keras.Sequential([tf.keras.Input(SHAPE), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])
        return model

    def data_info(self, data):
        return {"task": "toy", "input": {"name": "pixels", "shape": list(SHAPE), "dtype": "float32"},
                "num_classes": 2, "class_names": ["bottom_right", "top_left"]}

    def evaluation_data(self, paths, info, data_spec, split):
        x, y = self.load()[split or "validation"]
        return x, y, split or "validation", "toy"

    def serving(self, model, paths, info):
        return Serving(lambda pixels: model(pixels, training=False), tf.TensorSpec((None, *SHAPE), tf.float32, "pixels"))


@pytest.fixture
def toy_kind():
    register_kind("toy", KindRules(task=f"{__name__}:ToyTask", noun="toy classifiers", one="a toy classifier",
                                   objectives=("val_accuracy", "val_loss")))
    yield "toy"
    unregister_kind("toy")


def toy_config(*overrides):
    return apply_overrides(Config(), ["name=toy", "model.type=toy", "trainer.epochs=3", "trainer.batch_size=32",
                                       "trainer.learning_rate=0.05", "logging.histogram_freq=0",
                                       "runtime.precision=float32", *overrides])


def test_a_registered_toy_task_runs_through_every_verb(toy_kind, tmp_path):
    from tfmodels.search import make_plan, search
    from tfmodels.verbs.evaluate import evaluate_run, format_report
    from tfmodels.verbs.export import export_run
    from tfmodels.verbs.predict import predict
    from tfmodels.verbs.train import train

    assert isinstance(task_for(toy_config()), ToyTask)
    result = train(toy_config(), tmp_path / "run")
    assert result.metrics["status"] == "finished" and result.metrics["epochs_trained"] == 3
    assert result.metrics["validation"]["accuracy"] > 0.8  # a linear rule: learnt

    name, evaluation = evaluate_run(tmp_path / "run")
    assert name == "validation" and evaluation["examples"] == 128
    assert evaluation["accuracy"] == pytest.approx(result.metrics["validation"]["accuracy"], abs=1e-6)
    assert "confusion matrix" in format_report(name, evaluation)

    export = export_run(tmp_path / "run", out=tmp_path / "export")
    x, y = toy_examples(20, 2)
    table = tmp_path / "toy.csv"  # 4 pixel columns (0..16) and the label: a table `predict` reads
    np.savetxt(table, np.column_stack([np.round(x.reshape(20, -1) * 16), y]), fmt="%d", delimiter=",")
    predictions = predict(export, [f"csv:{table}?value_max=16"])
    assert predictions.class_names[0] in ("bottom_right", "top_left") and len(predictions.class_ids) == 20
    assert np.mean(predictions.class_ids == y) > 0.7

    (tmp_path / "toy.yaml").write_text("name: toy\nmodel:\n  type: toy\ntrainer:\n  epochs: 2\n  batch_size: 32\n"
                                       "logging:\n  histogram_freq: 0\nruntime:\n  precision: float32\n")
    (tmp_path / "space.yaml").write_text("trainer.learning_rate: [0.01, 0.1]\n")
    plan = make_plan(str(tmp_path / "toy.yaml"), str(tmp_path / "space.yaml"), trials=2, sampler="grid",
                     study_dir=tmp_path / "study")
    found = search(plan, log=lambda _: None)
    assert [row["state"] for row in found.rows] == ["complete", "complete"] and found.best is not None
    assert sorted(row["trainer.learning_rate"] for row in found.rows) == [0.01, 0.1]  # the whole grid, to its end


def test_a_kind_sets_its_rules_and_an_unknown_kind_is_refused(toy_kind):
    with pytest.raises(ConfigError, match="trainer.max_steps is for kinds trained by steps .*model.type=toy trains by "
                                          "trainer.epochs"):
        toy_config("trainer.max_steps=500").validate()
    with pytest.raises(ConfigError, match="trainer.distill is for classifiers .*model.type=toy cannot take a teacher"):
        toy_config("trainer.distill.teacher=runs/x").validate()
    with pytest.raises(ConfigError, match="config key 'model.type': expected 'mlp' .*'toy', got 'nope'"):
        apply_overrides(Config(), ["model.type=nope"])
    unregister_kind("toy")
    with pytest.raises(ConfigError, match="config key 'model.type': expected .*got 'toy'"):
        toy_config()


# --- no verb names a kind ------------------------------------------------------------------------------------

OUTSIDE_THE_TASKS = [*sorted((PACKAGE / "verbs").glob("*.py")), *sorted((PACKAGE / "search").glob("*.py")),
                     *sorted((PACKAGE / "config").glob("*.py")), PACKAGE / "cli.py"]


def kinds_named(path: Path, kinds, root: Path = PACKAGE.parent) -> list[str]:
    """The string literals of `path` (docstrings aside) that name a kind: the kind itself, or
    `model.type=<kind>` inside a longer text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    pattern = re.compile(r"model\.type[=:]\s*(\w+)")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            named = {node.value} & set(kinds) | {m for m in pattern.findall(node.value) if m in kinds}
            found += [f"{path.relative_to(root)}:{node.lineno}: {sorted(named)}"] if named else []
    return found


# The one mention allowed: the default config is the digits MLP (`Config()` is configs/mlp_digits.yaml's kind).
DEFAULTS = ["tfmodels/config/schema.py:{line}: ['mlp']"]


def test_no_verb_cli_or_config_rule_outside_the_tasks_names_a_kind():
    assert len(KINDS) >= 5
    line = next(i for i, text in enumerate((PACKAGE / "config" / "schema.py").read_text().splitlines(), 1)
                if text.strip().startswith("type: KindName"))
    assert [hit for path in OUTSIDE_THE_TASKS for hit in kinds_named(path, KINDS)] == [
        d.format(line=line) for d in DEFAULTS]


def test_the_check_finds_a_planted_kind(tmp_path):
    planted = tmp_path / "verb.py"
    planted.write_text('"""A verb (model.type=gpt in a docstring is documentation)."""\n'
                       'if config.model.type == "gpt":\n    raise ValueError("needs model.type=masked_lm")\n')
    hits = kinds_named(planted, KINDS, root=tmp_path)
    assert len(hits) == 2 and "['gpt']" in hits[0] and "['masked_lm']" in hits[1]
