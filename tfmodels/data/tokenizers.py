"""Text -> token ids with keras-hub: a vocabulary learnt from the training text, then WordPiece and packing.

Two kinds share one tokenizer class (keras-hub's `WordPieceTokenizer`), so that they train, save
and export alike:
- "wordpiece": a vocabulary learnt with `keras_hub.tokenizers.compute_word_piece_vocabulary`;
- "character": a vocabulary of single characters and their `##` continuations, so that every
  word falls apart into its characters (word boundaries stay visible as the missing `##`).
Chinese, Japanese and Korean characters are split one a token (`split_on_cjk`) in both.

Every sequence is `[CLS] tokens... [PAD]...`, of exactly `sequence_length` ids (static shapes); a
sentence pair is `[CLS] a... [SEP] b... [SEP] [PAD]...` (keras-hub's `MultiSegmentPacker`, the longer
sentence cut first, one token at a time: "round_robin"), and the encoder reads the segments from the
`[SEP]`s.
"""

from __future__ import annotations

import collections
import os
import unicodedata

import keras_hub
import numpy as np
import tensorflow as tf

from tfmodels.config import TokenizerConfig
from tfmodels.errors import DataError
from tfmodels.runtime import outside_xla

RESERVED_TOKENS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
PAD, CLS, SEP, UNK, MASK = RESERVED_TOKENS


def sample_texts(texts: list[str], size: int, seed: int) -> list[str]:
    """At most `size` of the texts, a seeded sample in their order (what a vocabulary is learnt from)."""
    if len(texts) <= size:
        return texts
    index = np.random.default_rng(seed).choice(len(texts), size, replace=False)
    return [texts[i] for i in np.sort(index)]


def learn_vocabulary(texts: list[str], config: TokenizerConfig, seed: int = 0) -> list[str]:
    """A vocabulary of at most `vocabulary_size` tokens, the reserved ones first ([PAD] is id 0)."""
    texts = sample_texts(texts, config.vocabulary_sample, seed)
    if config.kind == "character":
        return _character_vocabulary(texts, config)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(1000),
        vocabulary_size=config.vocabulary_size,
        lowercase=config.lowercase,
        strip_accents=config.strip_accents,
        split_on_cjk=config.split_on_cjk,
        reserved_tokens=RESERVED_TOKENS,
    )
    if len(vocabulary) <= len(RESERVED_TOKENS):
        raise DataError("the training text gave no tokens to learn a vocabulary from")
    return vocabulary


def _character_vocabulary(texts: list[str], config: TokenizerConfig) -> list[str]:
    counts = collections.Counter()
    for text in texts:
        if config.lowercase:
            text = text.lower()
        if config.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        counts.update(c for c in text if not c.isspace())
    room = (config.vocabulary_size - len(RESERVED_TOKENS)) // 2
    characters = [c for c, _ in counts.most_common(room)]
    return RESERVED_TOKENS + characters + [f"##{c}" for c in characters]


def save_vocabulary(vocabulary: list[str], path: str | os.PathLike) -> None:
    """One token a line, in id order (a run folder's vocabulary.txt)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")


def load_vocabulary(path: str | os.PathLike) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            vocabulary = f.read().split("\n")[:-1]
    except FileNotFoundError:
        raise DataError(f"'{path}' does not exist; the run folder has no vocabulary") from None
    if vocabulary[:len(RESERVED_TOKENS)] != RESERVED_TOKENS:
        raise DataError(f"'{path}' does not start with the reserved tokens {RESERVED_TOKENS}")
    return vocabulary


class TextPreprocessor:
    """Strings `(B,)` -> token ids `(B, sequence_length)`: `[CLS]`, the WordPiece ids, then `[PAD]`s;
    with `pairs=True`, two strings `(B,)`, `(B,)` -> `[CLS] a [SEP] b [SEP] [PAD]...`.

    Holds keras-hub's `WordPieceTokenizer` and `StartEndPacker` (pairs: `MultiSegmentPacker`); the same
    object tokenizes the training data (in tf.data) and the raw strings a SavedModel is called with.
    """

    def __init__(self, vocabulary: list[str], config: TokenizerConfig, pairs: bool = False):
        self.vocabulary = list(vocabulary)
        self.sequence_length = config.sequence_length
        self.tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary, lowercase=config.lowercase, strip_accents=config.strip_accents,
            split_on_cjk=config.split_on_cjk, oov_token=UNK)
        self.pad_id = self.vocabulary.index(PAD)
        self.cls_id = self.vocabulary.index(CLS)
        self.mask_id = self.vocabulary.index(MASK)
        self.sep_id = self.vocabulary.index(SEP)
        self.pairs = bool(pairs)
        if self.pairs:
            self.packer = keras_hub.layers.MultiSegmentPacker(
                sequence_length=self.sequence_length, start_value=self.cls_id, end_value=self.sep_id,
                pad_value=self.pad_id, truncate="round_robin")
        else:
            self.packer = keras_hub.layers.StartEndPacker(
                sequence_length=self.sequence_length, start_value=self.cls_id, pad_value=self.pad_id)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def tokenize(self, texts):
        """Strings `(B,)` -> WordPiece ids, ragged `(B, None)`."""
        with outside_xla():  # ragged shapes, new every batch
            return self.tokenizer(texts)

    def __call__(self, texts, second=None):
        """`(B,)` strings (and, for pairs, the second sentences `(B,)`) -> `(B, T)` int32 ids."""
        with outside_xla():
            if not self.pairs:
                return self.packer(self.tokenizer(texts))  # (B, T)
            if second is None:
                raise ValueError("this preprocessor packs sentence pairs: give the second sentences too")
            token_ids, _ = self.packer((self.tokenizer(texts), self.tokenizer(second)))  # segments: the encoder's
            return token_ids  # (B, T)
