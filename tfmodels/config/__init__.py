"""Run configuration: the schema (`schema.py`, one dataclass a section with its rules) and its
binding to YAML and `--set` overrides (`binding.py`)."""

from tfmodels.config.binding import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    demo_config,
    demo_text_config,
    dump_config,
    flat_dict,
    load_config,
    save_config,
    shipped_config,
)
from tfmodels.config.schema import (
    AugmentConfig,
    Config,
    DataConfig,
    EncoderConfig,
    HeadConfig,
    InitConfig,
    LoggingConfig,
    MaskedLMConfig,
    MLPConfig,
    ModelConfig,
    RuntimeConfig,
    TableOptions,
    TextTableOptions,
    TokenizerConfig,
    TrainerConfig,
)

__all__ = ["AugmentConfig", "Config", "DataConfig", "EncoderConfig", "HeadConfig", "InitConfig", "LoggingConfig",
           "MLPConfig", "MaskedLMConfig", "ModelConfig", "RuntimeConfig", "TableOptions", "TextTableOptions",
           "TokenizerConfig", "TrainerConfig", "apply_overrides", "config_from_dict",
           "config_to_dict", "demo_config", "demo_text_config", "dump_config", "flat_dict", "load_config",
           "save_config", "shipped_config"]
