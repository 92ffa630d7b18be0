"""Text <-> token ids for causal language models, exactly reversible: characters, or byte-level BPE.

- `CharacterCodec` (`data.tokenizer.kind=character`): nanoGPT's `stoi`/`itos`, every character of
  the training text (Tiny Shakespeare: 65). A character outside it is an error, never a silent [UNK].
- `BytePairCodec` (`data.tokenizer.kind=bpe`): GPT-2's byte-level BPE, learnt from the training
  text. Hugging Face `tokenizers` (which keras-hub installs) learns the vocabulary and merges, in
  seconds; keras-hub's `BytePairTokenizer` encodes and decodes, in training and inside an exported
  SavedModel alike (one implementation, so the served model sees the ids it was trained on; the two
  libraries split some rare strings, such as `''s`, differently). Any text encodes (bytes, no
  unknown tokens) and decodes back to itself. Documents are joined with `<|endoftext|>`, as GPT-2's.

A run folder keeps its codec (`characters.json` or `bpe.json`: `save`, `read_codec`), and an export
carries it inside the graph (`tf_encode`, `tf_decode`).
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError
from tfmodels.files import atomic_write_json, read_json

END_OF_TEXT = "<|endoftext|>"


class CharacterCodec:
    """Characters <-> ids, exactly (spaces, newlines and case kept); the vocabulary sorted."""

    kind = "character"

    def __init__(self, characters: list[str]):
        if len(set(characters)) != len(characters) or any(len(c) != 1 for c in characters):
            raise ValueError("a character vocabulary is a list of different single characters")
        self.characters = list(characters)
        self.index = {c: i for i, c in enumerate(self.characters)}

    @classmethod
    def learn(cls, texts: list[str]) -> "CharacterCodec":
        return cls(sorted(set("".join(texts))))

    @property
    def vocabulary_size(self) -> int:
        return len(self.characters)

    def encode(self, text: str, where: str = "the text") -> np.ndarray:
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DataError(f"{where} has {len(unknown)} character(s) the vocabulary of {self.vocabulary_size} does "
                            f"not hold: {shown}; remove them, or train on text that has them")
        return np.fromiter((self.index[c] for c in text), np.int32, len(text))

    def stream(self, texts: list[str], where: str = "the text") -> np.ndarray:
        """All texts, encoded and joined end to end (a character corpus has no document separator)."""
        return np.concatenate([self.encode(t, where) for t in texts]) if texts else np.zeros(0, np.int32)

    def decode(self, ids) -> str:
        return "".join(self.characters[int(i)] for i in ids)

    def save(self, root) -> None:
        atomic_write_json(root / "characters.json", {"kind": self.kind, "characters": self.characters})

    # --- inside a SavedModel ---------------------------------------------------------------------
    def graph_resources(self) -> list:
        if not hasattr(self, "_table"):
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(self.characters),
                                                    tf.range(len(self.characters), dtype=tf.int32)),
                default_value=-1)
            self._alphabet = tf.constant(self.characters)
        return [self._table]

    def tf_encode(self, text):
        """A string scalar -> (L,) int32 ids; -1 for a character outside the vocabulary."""
        return self._table.lookup(tf.strings.unicode_split(text, "UTF-8"))

    def tf_decode(self, ids):
        return tf.strings.reduce_join(tf.gather(self._alphabet, ids))


class BytePairCodec:
    """GPT-2's byte-level BPE: a vocabulary (token -> id) and its merges, learnt from the text."""

    kind = "bpe"

    def __init__(self, vocabulary: dict[str, int], merges: list[str]):
        import keras_hub

        self.vocabulary, self.merges = dict(vocabulary), list(merges)
        self.tokenizer = keras_hub.tokenizers.BytePairTokenizer(vocabulary=self.vocabulary, merges=self.merges,
                                                                dtype="int32")
        self.end_of_text = self.vocabulary[END_OF_TEXT]

    @classmethod
    def learn(cls, texts: list[str], vocabulary_size: int) -> "BytePairCodec":
        """Hugging Face `tokenizers`' byte-level BPE trainer (GPT-2's 256 bytes first, then merges)."""
        from tokenizers import ByteLevelBPETokenizer

        if not any(texts):
            raise DataError("the training text gave no tokens to learn a vocabulary from")
        trainer = ByteLevelBPETokenizer()
        trainer.train_from_iterator(texts, vocab_size=vocabulary_size, min_frequency=2, special_tokens=[END_OF_TEXT],
                                    show_progress=False)
        model = json.loads(trainer.to_str())["model"]  # the learnt vocabulary and ranked merges
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]  # "a b" (GPT-2's merges.txt)
        return cls(model["vocab"], merges)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Texts -> their ids, one array each."""
        ids = self.tokenizer(tf.constant(texts))
        return [np.asarray(r, np.int32) for r in (ids.to_list() if hasattr(ids, "to_list") else ids)]

    def encode(self, text: str, where: str = "the text") -> np.ndarray:
        return self.encode_batch([text])[0]

    def stream(self, texts: list[str], where: str = "the text", batch: int = 1000) -> np.ndarray:
        """All texts encoded (a thousand at a time) and joined with `<|endoftext|>` between two documents."""
        pieces = []
        for start in range(0, len(texts), batch):
            for ids in self.encode_batch(texts[start:start + batch]):
                if pieces:
                    pieces.append(np.asarray([self.end_of_text], np.int32))
                pieces.append(ids)
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int32)

    def decode(self, ids) -> str:
        text = self.tokenizer.detokenize(tf.constant(np.asarray(ids, np.int32)))
        return text if isinstance(text, str) else text.numpy().decode("utf-8", errors="replace")

    def save(self, root) -> None:
        atomic_write_json(root / "bpe.json", {"kind": self.kind, "vocabulary": self.vocabulary, "merges": self.merges})

    # --- inside a SavedModel ---------------------------------------------------------------------
    def graph_resources(self) -> list:
        self.tokenizer(tf.constant(["build"]))  # a first call builds the keras-hub layer, which export requires
        return [self.tokenizer]

    def tf_encode(self, text):
        return tf.cast(self.tokenizer(text), tf.int32)

    def tf_decode(self, ids):
        return self.tokenizer.detokenize(ids)


def read_codec(root):
    """The codec a run folder holds (`characters.json` or `bpe.json`), or None (not a causal LM)."""
    if (root / "characters.json").is_file():
        return CharacterCodec(read_json(root / "characters.json")["characters"])
    if (root / "bpe.json").is_file():
        saved = read_json(root / "bpe.json")
        return BytePairCodec(saved["vocabulary"], saved["merges"])
    return None


def learn_codec(kind: str, texts: list[str], vocabulary_size: int):
    return CharacterCodec.learn(texts) if kind == "character" else BytePairCodec.learn(texts, vocabulary_size)
