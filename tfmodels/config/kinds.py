"""Kinds of model: what `model.type` may name, and the rules a kind sets for the other sections.

Each kind is registered by its task (`tfmodels/tasks/registry.py`) with a `KindRules`: which task
class runs it (imported only when a verb asks), which `model.*` sections it reads, and what it
accepts of the rest of the config (trained by epochs or steps, which tokenizers, fine-tuning modes,
presets, sentence pairs, templates, teachers) and which validation metrics it logs. The rules here
are the same for every kind and name none: the kinds' own words come from their entries. Reading a
config checks them without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

from tfmodels.errors import ConfigError


class KindName(str):
    """The type hint of `model.type`: a plain string that must name a registered kind (checked when read)."""


@dataclass(frozen=True)
class KindRules:
    task: str  # "module:Class" of the kind's Task (`tfmodels.tasks.task_for` imports it)
    noun: str  # what runs of this kind are, for messages ("text classifiers")
    one: str  # and one of them ("a text classifier")
    sections: tuple[str, ...] = ()  # the model.* sections it reads (each validated)
    # "epochs or steps": by trainer.epochs, or by trainer.max_steps when it is set (a streamed corpus: by steps).
    trains_by: Literal["epochs", "steps", "epochs or steps"] = "epochs"
    tokenizers: tuple[str, ...] = ()  # data.tokenizer.kind values it reads; () reads no text
    finetune: tuple[str, ...] = ("full",)  # trainer.finetune values it takes
    preset: Optional[str] = None  # what init.preset starts ("a causal LM from GPT-2"); None: no preset
    pairs: bool = False  # sentence pairs (two text columns)
    template: bool = False  # instruction tuning (data.text.template)
    distill: bool = False  # a teacher (trainer.distill.teacher)
    folds: bool = False  # cross-validation folds of labelled examples (data.folds)
    objectives: tuple[str, ...] = ("val_loss",)  # what a run logs each epoch (what `search` may optimize)
    # Rules of this kind alone, run before the shared ones (with messages in the kind's words).
    check_model: Optional[Callable] = None  # (ModelConfig, where) -> None
    check: Optional[Callable] = None  # (Config) -> None
    # Another task for some configs of this kind ("module:Class"), or None: e.g. instruction tuning.
    narrower_task: Optional[Callable] = None  # (Config) -> "module:Class" | None


KINDS: dict[str, KindRules] = {}


def register_kind(name: str, rules: KindRules) -> None:
    """Adds (or replaces) a kind of model: `model.type=name` is then accepted and checked by `rules`."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"a kind's name is a plain identifier, got {name!r}")
    KINDS[name] = rules


def unregister_kind(name: str) -> None:
    KINDS.pop(name, None)


def kind_rules(name: str) -> KindRules:
    if name not in KINDS:
        raise ConfigError(f"config key 'model.type': expected {' | '.join(repr(k) for k in KINDS)}, got {name!r}")
    return KINDS[name]


def either(names) -> str:
    """['a', 'b', 'c'] -> 'a, b or c'."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def kinds_where(test: Callable[[KindRules], bool]) -> list[str]:
    return [name for name, rules in KINDS.items() if test(rules)]


def check_model(model, where: str = "model") -> None:
    """The model.* sections the kind reads, then the kind's own rules of them."""
    rules = kind_rules(model.type)
    for section in rules.sections:
        getattr(model, section).validate(f"{where}.{section}")
    if rules.check_model is not None:
        rules.check_model(model, where)


def check_kind(config) -> None:
    """The rules between `model.type` and the other sections: the kind's own, then the shared ones."""
    kind = config.model.type
    rules = kind_rules(kind)
    if rules.check is not None:
        rules.check(config)
    t, data = config.trainer, config.data
    if rules.trains_by == "steps" and t.max_steps is None:
        raise ConfigError(f"model.type={kind} trains by steps: set trainer.max_steps (and trainer.eval_interval, "
                          "trainer.eval_batches)")
    if rules.tokenizers and data.tokenizer.kind not in rules.tokenizers:
        others = kinds_where(lambda r: data.tokenizer.kind in r.tokenizers)
        raise ConfigError(f"data.tokenizer.kind={data.tokenizer.kind} is for {either(KINDS[k].noun for k in others)} "
                          f"(model.type={either(others)}); model.type={kind} reads {either(rules.tokenizers)} tokens")
    if rules.trains_by == "epochs" and t.max_steps is not None:
        raise ConfigError(f"trainer.max_steps is for kinds trained by steps (model.type="
                          f"{either(kinds_where(lambda r: 'steps' in r.trains_by))}); model.type={kind} trains by "
                          "trainer.epochs")
    if t.finetune not in rules.finetune:
        if rules.finetune == ("full",):
            raise ConfigError(f"trainer.finetune={t.finetune!r} is for text classifiers fine-tuned from a pretrained "
                              "run; use trainer.finetune=full")
        raise ConfigError(f"trainer.finetune={t.finetune!r} is for text classifiers; {rules.one} fine-tunes with "
                          f"trainer.finetune={either(rules.finetune)}")
    if config.init.preset and rules.preset is None:
        starts = [f"{KINDS[k].preset} (model.type={k})" for k in kinds_where(lambda r: r.preset is not None)]
        raise ConfigError(f"init.preset starts {either(starts)}; model.type={kind} cannot take one")
    if data.text.template is not None and not (rules.template and data.tokenizer.kind == "bpe"):
        raise ConfigError(f"data.text.template is for instruction tuning a causal LM: model.type="
                          f"{either(kinds_where(lambda r: r.template))} with data.tokenizer.kind=bpe (a response ends "
                          "with <|endoftext|>, which only BPE has)")
    if data.text.pairs and not rules.pairs and data.text.template is None:
        raise ConfigError(f"data.text.text_column names two columns (sentence pairs), which text classifiers read "
                          f"(model.type={either(kinds_where(lambda r: r.pairs))}); model.type={kind} reads one text")
    if data.folds.count and not rules.folds:
        raise ConfigError(f"data.folds (cross-validation) is for classifiers (model.type="
                          f"{either(kinds_where(lambda r: r.folds))}); model.type={kind} validates on data.validation "
                          "or a carved share")
    if t.distill.teacher and not rules.distill:
        raise ConfigError(f"trainer.distill is for classifiers (model.type={either(kinds_where(lambda r: r.distill))}); "
                          f"model.type={kind} cannot take a teacher here")
    if t.distill.teacher and config.init.preset:
        raise ConfigError("trainer.distill with init.preset: a preset student reads its own tokenizer, which the "
                          "teacher's token ids need not match; distill into a model of this project's encoder")
