"""The kinds of model, one entry each: its task and the rules it sets for the config.

Adding a kind of model is one task module (a `Task` subclass) and one `register_kind` here. Nothing
in this file imports TensorFlow: reading a config checks these rules (`tfmodels.config.kinds`)
before any model exists, and `task_for` imports the task only when a verb asks for it.
"""

from __future__ import annotations

from tfmodels.config.kinds import KindRules, register_kind
from tfmodels.errors import ConfigError

CLASSIFIER_OBJECTIVES = ("val_accuracy", "val_loss")


def _transformer(config) -> None:
    text = config.data.text
    if text.pairs and not config.init.preset and config.model.encoder.num_segments < 2:
        raise ConfigError("data.text.text_column names two columns (sentence pairs): set "
                          "model.encoder.num_segments=2, so that the encoder tells the first sentence from the second")


def _bag_of_words_model(model, where: str) -> None:
    model.encoder.validate(f"{where}.encoder", needs_heads=False)  # no attention: any width
    if model.head.pooling != "mean":
        raise ConfigError(f"{where}.type=bag_of_words averages the word embeddings: set {where}.head.pooling=mean")


def _bag_of_words(config) -> None:
    if config.trainer.finetune == "gradual":
        raise ConfigError("trainer.finetune=gradual unfreezes encoder blocks; the bag-of-words baseline has none")


def _gpt(config) -> None:
    if config.data.tokenizer.kind == "wordpiece":
        raise ConfigError("model.type=gpt reads characters or byte-level BPE: set data.tokenizer.kind="
                          "character or bpe (WordPiece does not decode back to the text)")
    if config.trainer.finetune == "lora" and not (config.init.from_run or config.init.preset):
        raise ConfigError("trainer.finetune=lora adapts a pretrained causal LM: set init.from_run to its run "
                          "folder (LoRA on random weights learns nothing useful)")
    if config.init.preset and config.data.tokenizer.kind != "bpe":
        raise ConfigError("init.preset for a causal LM reads GPT-2's byte-level BPE: set data.tokenizer.kind=bpe")


TEXT_TOKENIZERS = ("wordpiece", "character")


def _tagger(config) -> None:
    if config.data.text.pairs:
        raise ConfigError("model.type=tagger reads one sentence of words; data.text.text_column is for text classifiers")

register_kind("mlp", KindRules(
    task="tfmodels.tasks.image_classification:ImageClassification", noun="image classifiers",
    one="an image classifier", sections=("mlp",), distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES))
register_kind("cnn", KindRules(
    task="tfmodels.tasks.image_classification:ImageClassification", noun="image classifiers",
    one="an image classifier", sections=("cnn",), distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES))
register_kind("vit", KindRules(
    task="tfmodels.tasks.image_classification:ImageClassification", noun="image classifiers",
    one="an image classifier", sections=("vit",), distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES))
register_kind("transformer", KindRules(
    task="tfmodels.tasks.text_classification:TextClassification", noun="text classifiers", one="a text classifier",
    sections=("encoder", "head"), tokenizers=TEXT_TOKENIZERS, finetune=("full", "frozen", "gradual", "lora"),
    preset="a text classifier from a published encoder", pairs=True, distill=True, folds=True,
    objectives=CLASSIFIER_OBJECTIVES, check=_transformer))
register_kind("bag_of_words", KindRules(
    task="tfmodels.tasks.text_classification:TextClassification", noun="text classifiers", one="a text classifier",
    sections=("head",), tokenizers=TEXT_TOKENIZERS, finetune=("full", "frozen", "gradual", "lora"), pairs=True,
    distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES, check_model=_bag_of_words_model, check=_bag_of_words))
def _pooled_over_time(model, where: str) -> None:
    if model.head.pooling == "first":
        raise ConfigError(f"{where}.type={model.type} has no [CLS] vector to read: set {where}.head.pooling=max "
                          "(the maximum over the text, Kim's max-over-time) or mean")


register_kind("lstm", KindRules(
    task="tfmodels.tasks.text_classification:TextClassification", noun="text classifiers", one="a text classifier",
    sections=("rnn", "head"), tokenizers=TEXT_TOKENIZERS, pairs=True, distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES,
    check_model=_pooled_over_time))
register_kind("gru", KindRules(
    task="tfmodels.tasks.text_classification:TextClassification", noun="text classifiers", one="a text classifier",
    sections=("rnn", "head"), tokenizers=TEXT_TOKENIZERS, pairs=True, distill=True, folds=True, objectives=CLASSIFIER_OBJECTIVES,
    check_model=_pooled_over_time))
register_kind("textcnn", KindRules(
    task="tfmodels.tasks.text_classification:TextClassification", noun="text classifiers", one="a text classifier",
    sections=("textcnn", "head"), tokenizers=TEXT_TOKENIZERS, pairs=True, distill=True, folds=True,
    objectives=CLASSIFIER_OBJECTIVES, check_model=_pooled_over_time))
register_kind("tagger", KindRules(
    task="tfmodels.tasks.token_classification:TokenClassification", noun="token classifiers",
    one="a token classifier", sections=("encoder", "head"), tokenizers=TEXT_TOKENIZERS,
    finetune=("full", "frozen", "lora"), preset="a token classifier from a published encoder",
    objectives=("val_f1", "val_loss"), check=_tagger))
def _qa(config) -> None:
    if config.data.text.pairs:
        raise ConfigError("model.type=qa reads a question and its context from squad: data; data.text.text_column "
                          "is for text classifiers")
    qa, length = config.data.qa, config.data.tokenizer.sequence_length
    if qa.max_question_tokens + 3 + qa.stride > length:
        raise ConfigError(f"data.tokenizer.sequence_length={length} cannot hold a question of data.qa.max_question_tokens="
                          f"{qa.max_question_tokens}, [CLS], two [SEP] and a window step of data.qa.stride={qa.stride}: "
                          "lower those two or raise the sequence length")
    if not config.init.preset and config.model.encoder.num_segments < 2:
        raise ConfigError("model.type=qa reads a question and a context: set model.encoder.num_segments=2, so that "
                          "the encoder tells one from the other")


register_kind("qa", KindRules(
    task="tfmodels.tasks.question_answering:QuestionAnswering", noun="question answerers",
    one="a question answerer", sections=("encoder", "head"), tokenizers=TEXT_TOKENIZERS,
    finetune=("full", "frozen", "lora"), preset="a question answerer from a published encoder",
    objectives=("val_f1", "val_exact_match", "val_loss"), check=_qa))
def _seq2seq(config) -> None:
    if config.data.text.pairs:
        raise ConfigError("model.type=seq2seq reads source -> target pairs from parallel:, jsonl: or synthetic_s2s "
                          "specs; data.text.text_column is for text classifiers")


register_kind("seq2seq", KindRules(
    task="tfmodels.tasks.seq2seq:SequenceToSequence", noun="encoder-decoders", one="an encoder-decoder",
    sections=("seq2seq",), tokenizers=("bpe",),
    objectives=("val_bleu", "val_rouge1", "val_rouge2", "val_rougeL", "val_loss"), check=_seq2seq))
register_kind("masked_lm", KindRules(
    task="tfmodels.tasks.masked_lm:MaskedLanguageModeling", noun="masked-LM pretraining runs",
    one="a masked-LM pretraining run", sections=("encoder", "head", "masked_lm"), tokenizers=TEXT_TOKENIZERS,
    trains_by="epochs or steps", objectives=("val_masked_accuracy", "val_loss")))
register_kind("gpt", KindRules(
    task="tfmodels.tasks.causal_lm:CausalLanguageModeling", noun="causal language models", one="a causal LM",
    sections=("gpt",), trains_by="steps", tokenizers=("character", "bpe"), finetune=("full", "lora"),
    preset="a causal LM from GPT-2", template=True, check=_gpt,
    narrower_task=lambda config: "tfmodels.tasks.instruction_tuning:InstructionTuning" if config.data.text.template
    else None))


def baseline_overrides() -> list[str]:
    """What turns a text classifier's config into its bag-of-words baseline (same tokens, data and budget)."""
    return ["model.type=bag_of_words", "model.head.pooling=mean"]
