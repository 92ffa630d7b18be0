"""Words -> sub-word token ids, and where each word starts among them (a token classifier's input).

One TensorFlow function does it for the training data (once, up front) and inside the exported
SavedModel (on each request), so that serving reads words exactly as training did.

    words (B, W) ragged strings [, predicate word index (B,)]
      -> token_ids (B, T): [CLS] sub-words of word 0, of word 1, ... [SEP] [PAD]...
      -> starts (B, W): the position of each word's first sub-word (-1: the word was cut)

Each word is tokenized alone, so its sub-words are its own; one that gives none (a stray control
character) reads as [UNK], so that every word keeps a position. For semantic role labelling the
predicate is marked in the input by a marker token on each side of it (`[unused0]` in a BERT
vocabulary, our own `[PRED]`): the marked word is what the roles are of. A sentence longer than
`sequence_length - 2` sub-words is cut; its last words get start -1, and the task counts them.
"""

from __future__ import annotations

import keras_hub
import tensorflow as tf

from tfmodels.runtime import outside_xla

WORDS = tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1, row_splits_dtype=tf.int64)  # (B, W) words


def split_words(texts, mode: str = "whitespace") -> tf.RaggedTensor:
    """Raw sentences (B,) -> their words (B, W): split on whitespace, or one character a word (Chinese
    NER sets tag characters) with the spaces dropped."""
    if mode == "characters":
        return tf.strings.unicode_split(tf.strings.regex_replace(texts, r"\s+", ""), "UTF-8")
    return tf.strings.split(texts)


class WordPacker:
    """(words, predicates) -> (token ids, word starts). See the module's docstring."""

    def __init__(self, tokenizer, cls_id: int, sep_id: int, pad_id: int, unk_id: int, sequence_length: int,
                 marker_id: int | None = None):
        self.tokenizer = tokenizer
        self.cls_id, self.sep_id, self.pad_id, self.unk_id = int(cls_id), int(sep_id), int(pad_id), int(unk_id)
        self.sequence_length = int(sequence_length)
        self.marker_id = None if marker_id is None else int(marker_id)
        self.packer = keras_hub.layers.StartEndPacker(sequence_length=self.sequence_length, start_value=self.cls_id,
                                                      end_value=self.sep_id, pad_value=self.pad_id)
        # Eagerly, keras-hub turns its results into lists: the packing runs as a graph, traced once a kind of call.
        self._words_only = tf.function(lambda words: self._pack(words, None), input_signature=[WORDS])
        self._marked = tf.function(self._pack, input_signature=[WORDS, tf.TensorSpec([None], tf.int32)])

    def __call__(self, words: tf.RaggedTensor, predicates=None):
        with outside_xla():
            if not tf.executing_eagerly():
                return self._pack(words, predicates)
            words = words.with_row_splits_dtype(tf.int64)
            if predicates is None:
                return self._words_only(words)
            return self._marked(words, tf.cast(predicates, tf.int32))

    def _pack(self, words: tf.RaggedTensor, predicates):
        sentence_of_word = words.value_rowids()  # (N,) for the N words of the batch
        pieces = self.tokenizer(words.flat_values)  # (N, P) ragged sub-word ids
        if not isinstance(pieces, tf.RaggedTensor):
            pieces = tf.RaggedTensor.from_tensor(pieces)
        pieces = tf.cast(pieces, tf.int32)
        empty = tf.equal(pieces.row_lengths(), 0)  # a word of no sub-words reads as [UNK]
        pieces = tf.concat([pieces, _rows_of(self.unk_id, empty)], axis=1)
        first = tf.zeros_like(sentence_of_word, dtype=tf.int32)  # where the word's label sits among its pieces
        if predicates is not None:
            if self.marker_id is None:
                raise ValueError("this packer has no marker token: it packs no predicates")
            position = tf.range(tf.shape(sentence_of_word, out_type=tf.int64)[0]) - tf.gather(
                words.row_starts(), sentence_of_word)  # each word's index in its sentence
            marked = tf.equal(position, tf.gather(tf.cast(predicates, tf.int64), sentence_of_word))
            marker = _rows_of(self.marker_id, marked)
            pieces = tf.concat([marker, pieces, marker], axis=1)  # [PRED] word [PRED]
            first = tf.cast(marked, tf.int32)
        lengths = tf.cast(pieces.row_lengths(), tf.int32)  # (N,)
        per_sentence = tf.math.unsorted_segment_sum(lengths, sentence_of_word, words.nrows())  # (B,)
        tokens = tf.RaggedTensor.from_row_lengths(pieces.flat_values, tf.cast(per_sentence, tf.int64))  # (B, L)
        sentence_offset = tf.cumsum(per_sentence, exclusive=True)  # (B,)
        starts = (tf.cumsum(lengths, exclusive=True) - tf.gather(sentence_offset, sentence_of_word)
                  + 1 + first)  # (N,): [CLS] is position 0
        starts = tf.where(starts <= self.sequence_length - 2, starts, -1)  # beyond the last kept sub-word: cut
        token_ids = self.packer(tokens)  # (B, T)
        starts = words.with_flat_values(starts).to_tensor(default_value=-1)  # (B, W)
        return token_ids, starts


def _rows_of(value: int, present) -> tf.RaggedTensor:
    """(N, 0 or 1) ragged: [value] where `present`, [] elsewhere."""
    count = tf.reduce_sum(tf.cast(present, tf.int32))
    return tf.RaggedTensor.from_row_lengths(tf.fill([count], tf.constant(value, tf.int32)),
                                            tf.cast(present, tf.int64))
