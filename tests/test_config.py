import pytest
import yaml
from conftest import CONFIGS

from tfmodels.config import (
    Config,
    apply_overrides,
    baseline_overrides,
    config_from_dict,
    config_to_dict,
    demo_config,
    demo_text_config,
    dump_config,
    load_config,
)
from tfmodels.errors import ConfigError


def test_every_shipped_config_loads():
    files = sorted(CONFIGS.glob("*.yaml"))
    assert files, "configs/ holds no YAML files"
    for path in files:
        assert isinstance(load_config(path), Config)


def test_mlp_digits_yaml_is_the_demo_default():
    assert load_config(CONFIGS / "mlp_digits.yaml") == demo_config()


def test_dump_and_load_round_trip(tmp_path):
    config = apply_overrides(Config(), ["trainer.epochs=3", "model.mlp.hidden_units=[7, 5]", "data.test=digits"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_overrides_set_nested_values_with_types():
    config = apply_overrides(Config(), [
        "trainer.epochs=3", "trainer.learning_rate=1e-2", "model.mlp.batch_norm=true",
        "model.mlp.hidden_units=[32,16]", "data.validation=null", "name=2024", "data.table.label_column=0",
        "data.table.label_column=label", "trainer.clipnorm=1",
    ])
    assert config.trainer.epochs == 3
    assert config.trainer.learning_rate == pytest.approx(0.01)
    assert config.model.mlp.batch_norm is True
    assert config.model.mlp.hidden_units == [32, 16]
    assert config.data.validation is None
    assert config.name == "2024"  # a string field takes the text as written
    assert config.data.table.label_column == "label"
    assert config.trainer.clipnorm == 1.0 and isinstance(config.trainer.clipnorm, float)


@pytest.mark.parametrize("override, message", [
    ("trainer.epoch=3", "unknown config key 'trainer.epoch': did you mean 'epochs'?"),
    ("trainr.epochs=3", "unknown config key 'trainr': did you mean 'trainer'?"),
    ("model.mlp.hiden_units=[3]", "did you mean 'hidden_units'?"),
    ("trainer.epochs=three", "config key 'trainer.epochs': expected int, got 'three'"),
    ("trainer.epochs=2.5", "expected int, got 2.5"),
    ("model.mlp.batch_norm=maybe", "expected bool"),
    ("model.mlp.hidden_units=[a]", "config key 'model.mlp.hidden_units[0]': expected int"),
    ("runtime.precision=float64", "expected 'auto' | 'float32' | 'mixed_bfloat16' | 'mixed_float16'"),
    ("trainer=3", "is a section"),
    ("trainer.epochs.x=3", "is a value, not a section"),
    ("epochs", "not of the form key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), [override])
    assert message in str(info.value)


def test_unknown_key_in_a_file_names_the_file_and_nearest_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trainer:\n  learning_rte: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'trainer.learning_rte': did you mean 'learning_rate'"):
        load_config(path)


@pytest.mark.parametrize("text, message", [
    ("trainer: [1, 2]", "config key 'trainer': expected a mapping"),
    ("- a\n- b", "expected a mapping"),
    ("trainer:\n  epochs: [1", "not valid YAML"),
    ("model:\n  type: cnn", "config key 'model.type': expected 'mlp'"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file 'nope.yaml' does not exist"):
        load_config("nope.yaml")


def test_yaml_tags_are_not_executed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == Config()


def test_to_dict_is_plain_yaml():
    text = yaml.safe_dump(config_to_dict(demo_config()))
    assert config_from_dict(yaml.safe_load(text)) == demo_config()


def test_float_written_1e_minus_3_in_yaml_is_a_float(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  learning_rate: 3e-4\n")
    assert load_config(path).trainer.learning_rate == pytest.approx(3e-4)


def test_encoder_synthetic_yaml_is_the_demo_text_default():
    assert load_config(CONFIGS / "encoder_synthetic.yaml") == demo_text_config()


def test_bow_synthetic_yaml_is_the_baseline_of_the_demo_text_default():
    baseline = apply_overrides(demo_text_config(), [*baseline_overrides(), "name=bow_synthetic"])
    loaded = load_config(CONFIGS / "bow_synthetic.yaml")
    assert loaded.model.type == baseline.model.type and loaded.model.head == baseline.model.head
    assert loaded.data == baseline.data and loaded.trainer == baseline.trainer
    assert loaded.model.encoder.width == baseline.model.encoder.width


def test_list_of_specs_override_needs_quotes():
    config = apply_overrides(Config(), ['data.train=["text:${X}/a.txt", "dir:b.tar.gz?root=a/b"]'])
    assert config.data.train == ["text:${X}/a.txt", "dir:b.tar.gz?root=a/b"]
    with pytest.raises(ConfigError, match="cannot read the list .*quote each item"):
        apply_overrides(Config(), ["data.train=[text:${X}/a.txt, dir:b]"])
