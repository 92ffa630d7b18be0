import pytest
import yaml
from conftest import CONFIGS

from tfmodels.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    demo_config,
    demo_text_config,
    dump_config,
    load_config,
)
from tfmodels.errors import ConfigError
from tfmodels.tasks.registry import baseline_overrides


def test_every_shipped_config_loads():
    files = sorted(CONFIGS.glob("*.yaml"))
    assert files, "configs/ holds no YAML files"
    for path in files:
        assert isinstance(load_config(path), Config)


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
    ("model:\n  type: rnn", "config key 'model.type': expected 'mlp'"),
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


# --- every range rule, beside its section (schema.py), reported when the config is bound --------------

TEXT = ["model.type=transformer", "data.train=synthetic"]


@pytest.mark.parametrize("overrides, message", [
    (["trainer.epochs=0"], "trainer.epochs must be at least 1, got 0"),
    (["trainer.lora_rank=0"], "trainer.lora_rank must be at least 1, got 0"),
    (["trainer.lora_alpha=0"], "trainer.lora_alpha must be positive, or null for the rank; got 0.0"),
    (["trainer.lora_targets=[attention, ffn]"], "trainer.lora_targets must be different names among attention, "
                                                "feed_forward, token_embedding; got \\['attention', 'ffn'\\]"),
    (["trainer.lora_targets=[]"], "trainer.lora_targets must be different names among"),
    (["trainer.unfreeze_every=0"], "trainer.unfreeze_every must be at least 1, got 0"),
    (["trainer.learning_rate=0"], "trainer.learning_rate must be positive, got 0.0"),
    (["trainer.warmup_fraction=1.0"], r"trainer.warmup_fraction must be in \[0, 1\), got 1.0"),
    (["trainer.weight_decay=-0.1"], "trainer.weight_decay must be 0 or more"),
    (["trainer.clipnorm=0"], "trainer.clipnorm must be positive, or null for no clipping; got 0.0"),
    (["trainer.early_stopping_patience=-1"], "trainer.early_stopping_patience must be at least 0"),
    (["model.num_classes=1"], "model.num_classes must be at least 2, got 1"),
    (["model.mlp.hidden_units=[]"], "model.mlp.hidden_units must be a non-empty list of positive widths"),
    (["model.mlp.dropout=1.0"], r"model.mlp.dropout must be in \[0, 1\), got 1.0"),
    ([*TEXT, "model.encoder.width=130"], "model.encoder.width=130 is not divisible by model.encoder.num_heads=4; "
                                         "choose a multiple of num_heads, e.g. width=128"),
    ([*TEXT, "model.encoder.num_layers=0"], "model.encoder.num_layers must be at least 1, got 0"),
    ([*TEXT, "model.encoder.activation=swoosh"], "model.encoder.activation 'swoosh' is not an activation"),
    (["model.type=gpt", "model.gpt.activation=gelu_tanh"], "model.gpt.activation 'gelu_tanh' is not an activation"),
    ([*TEXT, "model.encoder.layer_norm_epsilon=0"], "model.encoder.layer_norm_epsilon must be positive"),
    ([*TEXT, "model.encoder.initializer_range=-1"], "model.encoder.initializer_range must be positive"),
    ([*TEXT, "model.head.dropout=1.5"], r"model.head.dropout must be in \[0, 1\)"),
    (["model.type=bag_of_words", "data.train=synthetic"], "set model.head.pooling=mean"),
    (["model.type=masked_lm", "model.masked_lm.mask_rate=0"], "mask_rate must be above 0"),
    (["model.type=masked_lm", "model.masked_lm.random_token_rate=1.5"],
     r"model.masked_lm.random_token_rate must be in \[0, 1\]"),
    (["data.validation_fraction=1.0"], "data.validation_fraction must be between 0 and 1 \\(exclusive\\)"),
    (["data.tokenizer.sequence_length=1"], "data.tokenizer.sequence_length must be at least 2"),
    (["data.tokenizer.vocabulary_size=5"], "data.tokenizer.vocabulary_size must be larger than the 5 reserved tokens"),
    (["data.tokenizer.vocabulary_sample=0"], "data.tokenizer.vocabulary_sample must be at least 1"),
    (["data.augment.zoom=1.0"], r"data.augment.zoom must be in \[0, 1\)"),
    (["trainer.recovery.max_trials=-1"], r"trainer.recovery.max_trials must be at least 0, got -1"),
    (["trainer.recovery.lr_factor=2"], r"trainer.recovery.lr_factor must be in \(0, 1\]"),
    (["trainer.recovery.loss_upper_bound=0"], r"trainer.recovery.loss_upper_bound must be a positive loss"),
    (["data.text.class_names=[a, a]"], r"data.text.class_names must be two or more different"),
    (["runtime.num_cpu_devices=-1"], "runtime.num_cpu_devices must be 0 \\(leave the CPU as it is\\) or more"),
    (["runtime.connect_timeout=0"], "runtime.connect_timeout must be a positive number of seconds"),
    (["logging.verbose=3"], "logging.verbose must be \"auto\", 0, 1 or 2, got 3"),
    (["trainer.finetune=lora"], "trainer.finetune='lora' is for text classifiers"),
    (["logging.text_samples=-1"], "logging.text_samples must be at least 0"),
    (["logging.sample_tokens=0"], "logging.sample_tokens must be at least 1"),
    (["model.type=bag_of_words", "model.head.pooling=mean", "trainer.finetune=gradual"],
     "trainer.finetune=gradual unfreezes encoder blocks; the bag-of-words baseline has none"),
])
def test_every_section_rule_names_its_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), overrides)


@pytest.mark.parametrize("overrides, message", [
    (["trainer.finetune=lora"], "trainer.finetune=lora adapts a pretrained causal LM: set init.from_run"),
    (["trainer.finetune=gradual", "init.from_run=/somewhere"],
     "trainer.finetune='gradual' is for text classifiers; a causal LM fine-tunes with trainer.finetune=full or lora"),
])
def test_a_causal_lm_fine_tunes_in_full_or_with_lora_from_a_run(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"), overrides).validate()
    lora = ["trainer.finetune=lora", "init.from_run=/somewhere"]
    assert apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"), lora).validate().trainer.finetune == "lora"


@pytest.mark.parametrize("config, overrides, message", [
    ("gpt_shakespeare_char.yaml", ["data.tokenizer.kind=wordpiece"],
     "model.type=gpt reads characters or byte-level BPE: set data.tokenizer.kind=character or bpe"),
    ("encoder_sst2.yaml", ["data.tokenizer.kind=bpe"],
     "data.tokenizer.kind=bpe is for encoder-decoders or causal language models \\(model.type=seq2seq or gpt\\); "
     "model.type=transformer reads"),
])
def test_tokenizer_kinds_belong_to_their_models(config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config(CONFIGS / config), overrides).validate()
    assert apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"),
                           ["data.tokenizer.kind=bpe"]).validate().data.tokenizer.kind == "bpe"


def test_the_shipped_configs_are_valid_and_the_demo_reads_them():
    from tfmodels.config import shipped_config

    for path in sorted(CONFIGS.glob("*.yaml")):
        assert shipped_config(path.stem) == load_config(path)
    assert demo_config() == load_config(CONFIGS / "mlp_digits.yaml")
    assert demo_text_config() == load_config(CONFIGS / "encoder_synthetic.yaml")
    with pytest.raises(ConfigError, match="no shipped config named 'nope'; the shipped ones: bow_synthetic, "):
        shipped_config("nope")


def test_reserved_token_count_is_the_tokenizers():
    from tfmodels.config.schema import RESERVED_TOKEN_COUNT
    from tfmodels.data.tokenizers import RESERVED_TOKENS

    assert RESERVED_TOKEN_COUNT == len(RESERVED_TOKENS)


def test_on_and_off_choices_survive_yaml_booleans(tmp_path):
    """YAML 1.1 reads `on`/`off` as true/false: a choice named so is still that choice, in a file and in --set."""
    path = tmp_path / "c.yaml"
    path.write_text("runtime:\n  xla: on\n")
    assert load_config(path).runtime.xla == "on"
    assert apply_overrides(Config(), ["runtime.xla=off"]).runtime.xla == "off"
    with pytest.raises(ConfigError, match="config key 'runtime.deterministic': expected bool, got 'on'"):
        apply_overrides(Config(), ["runtime.deterministic='on'"])
