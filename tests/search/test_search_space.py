"""The search space file: every key and value checked against the config schema before any trial runs."""

import pytest
from conftest import CONFIGS

from tfmodels.config import apply_overrides, load_config
from tfmodels.errors import ConfigError
from tfmodels.search.space import Parameter, grid_size, load_space


@pytest.fixture(scope="module")
def base():
    return load_config(CONFIGS / "encoder_sst2.yaml")


def space(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_space_reads_choices_and_ranges_and_gives_overrides_the_trainer_takes(tmp_path, base):
    params = load_space(space(tmp_path, """
trainer.learning_rate: {log_uniform: [1.0e-4, 3.0e-3]}
model.encoder.dropout: {uniform: [0.0, 0.3]}
model.encoder.width: {int_uniform: [64, 256], step: 64}
model.encoder.num_layers: [1, 2, 4]
data.tokenizer.sequence_length: [32, 64]
"""), base)
    assert [p.key for p in params] == ["trainer.learning_rate", "model.encoder.dropout", "model.encoder.width",
                                       "model.encoder.num_layers", "data.tokenizer.sequence_length"]
    lr, dropout, width, layers, length = params
    assert (lr.kind, lr.low, lr.high) == ("log_uniform", 1e-4, 3e-3) and lr.grid is None
    assert width.grid == (64, 128, 192, 256) and layers.grid == (1, 2, 4)
    assert grid_size(params) is None  # float ranges: no grid
    assert grid_size([width, layers, length]) == 4 * 3 * 2
    config = apply_overrides(base, [lr.override(0.001), width.override(192), layers.override(4)])
    assert (config.trainer.learning_rate, config.model.encoder.width, config.model.encoder.num_layers) == (0.001, 192, 4)
    assert isinstance(config.model.encoder.width, int)


def test_a_string_choice_keeps_its_type(tmp_path, base):
    (p,) = load_space(space(tmp_path, "trainer.optimizer: [adamw, adam]\n"), base)
    assert p == Parameter("trainer.optimizer", choices=("adamw", "adam"))
    assert apply_overrides(base, [p.override("adam")]).trainer.optimizer == "adam"


@pytest.mark.parametrize("text, says", [
    ("trainer.learnin_rate: [0.001]\n", "did you mean 'learning_rate'"),
    ("model.encoder: [1, 2]\n", "is a section"),
    ("model.encoder.num_layers: []\n", "empty list of choices"),
    ("model.encoder.num_layers: [1, 1]\n", "lists a choice twice"),
    ("model.encoder.num_layers: [1, two]\n", "'model.encoder.num_layers' cannot be 'two'"),
    ("model.encoder.dropout: [0.1, 1.5]\n", "cannot be 1.5"),
    ("model.encoder.num_layers: {uniform: [1, 4]}\n", "cannot be searched over uniform"),
    ("trainer.optimizer: {log_uniform: [1, 4]}\n", "cannot be searched over log_uniform"),
    ("trainer.learning_rate: {log_uniform: [0.0, 0.1]}\n", "log_uniform needs low > 0"),
    ("trainer.learning_rate: {log_uniform: [0.1, 0.001]}\n", "needs low < high"),
    ("trainer.learning_rate: {log_uniform: [small, big]}\n", "takes [low, high] as two numbers"),
    ("trainer.learning_rate: {log_uniform: 0.001}\n", "takes [low, high] as two numbers"),
    ("trainer.learning_rate: {normal: [0, 1]}\n", "a range is exactly one of"),
    ("model.encoder.width: {int_uniform: [64.0, 256]}\n", "int_uniform takes two integers"),
    ("model.encoder.width: {int_uniform: [64, 256], step: 100}\n", "`step` is for int_uniform"),
    ("model.encoder.width: {int_uniform: [64, 66]}\n", "cannot be 65"),  # not a multiple of the 4 heads
    ("trainer.learning_rate: 0.001\n", "give a list of choices"),
    ("[1, 2]\n", "names no key"),
    ("a: [1\n", "is not YAML"),
])
def test_a_bad_space_is_one_line_that_names_the_key(tmp_path, base, text, says):
    with pytest.raises(ConfigError) as error:
        load_space(space(tmp_path, text), base)
    assert says in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_a_missing_space_file_says_what_to_give(tmp_path, base):
    with pytest.raises(ConfigError, match="does not exist; give a YAML file"):
        load_space(tmp_path / "nope.yaml", base)


@pytest.mark.parametrize("name", ["encoder_sst2", "mlp_digits"])
def test_the_shipped_spaces_fit_their_configs_at_every_choice_and_range_end(name):
    base = load_config(CONFIGS / f"{name}.yaml")
    params = load_space(CONFIGS / "spaces" / f"{name}.yaml", base)
    assert params, f"configs/spaces/{name}.yaml searches nothing"
    for p in params:
        for value in p.grid or (p.low, p.high):
            config = apply_overrides(base, [p.override(value)])
            section, *rest = p.key.split(".")
            got = getattr(config, section)
            for part in rest:
                got = getattr(got, part)
            assert got == (list(value) if isinstance(value, tuple) else value), (p.key, value, got)
