"""(question, context) -> windows of `[CLS] question [SEP] context piece [SEP]`, with the way back to the text.

One TensorFlow function does it for the training data (once, up front) and inside the exported
SavedModel (on each request), so that serving reads a context exactly as training did.

The context is split into words with their byte offsets (runs of letters and digits; each punctuation
mark, symbol and CJK character alone), then each word into sub-words. Every sub-word keeps the byte
span of its word: an answer's first and last sub-words give its text back as a slice of the original
context (so answers are whole words; a CJK character is a word). A context longer than a window is
read in overlapping windows, BERT's way (`run_squad.py`'s doc_stride): window k starts at context
sub-word k x `stride`, and holds as many as fit beside the question (`sequence_length` - 3 - its
length), so consecutive windows share that many minus `stride`. A question longer than
`max_question_tokens` sub-words is cut there, and said so (`question_cut`).

    questions (B,), contexts (B,) strings ->
      token_ids (N, T)        the N windows of the batch, padded to T = sequence_length
      example (N,)            which question each window reads
      window_start (N,)       its first context sub-word (an index into the context's sub-words)
      context_position (N,)   where the context starts in the window (2 + the question's length)
      context_length (N,)     how many context sub-words it holds
      token_begin, token_end (B, C)   each context sub-word's word, as byte offsets into the context (-1: none)
      question_cut (B,)       bool: the question was longer than max_question_tokens
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from tfmodels.runtime import outside_xla

SEPARATORS = r"[\s\p{Z}]+|[\p{P}\p{S}]|\p{Han}"  # where words end (whitespace is dropped)
KEPT = r"[\p{P}\p{S}]|\p{Han}"  # of the separators, those that are words themselves


def split_with_offsets(texts):
    """(B,) strings -> (words (B, W), begin (B, W), end (B, W)) byte offsets into each text."""
    return tf_text.regex_split_with_offsets(texts, SEPARATORS, KEPT)


class QAPacker:
    """Questions and contexts -> windows (see the module's docstring)."""

    def __init__(self, tokenizer, cls_id: int, sep_id: int, pad_id: int, unk_id: int, sequence_length: int,
                 stride: int, max_question_tokens: int):
        self.tokenizer = tokenizer
        self.cls_id, self.sep_id, self.pad_id, self.unk_id = int(cls_id), int(sep_id), int(pad_id), int(unk_id)
        self.sequence_length, self.stride = int(sequence_length), int(stride)
        self.max_question_tokens = int(max_question_tokens)
        if self.max_question_tokens + 3 + self.stride > self.sequence_length:
            raise ValueError(f"a window of {self.sequence_length} tokens cannot hold a question of "
                             f"{self.max_question_tokens} tokens, [CLS], two [SEP] and a stride of {self.stride}")
        strings = tf.TensorSpec([None], tf.string)
        # Eagerly, keras-hub turns its results into lists: the packing runs as a graph, traced once.
        self._packed = tf.function(self._pack, input_signature=[strings, strings])

    def __call__(self, questions, contexts) -> dict:
        with outside_xla():
            if not tf.executing_eagerly():
                return self._pack(questions, contexts)
            return self._packed(tf.constant(questions), tf.constant(contexts))

    def _pieces(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
        """(B, W) words -> (B, W, P) sub-word ids; a word of none (a stray control character) reads as [UNK]."""
        pieces = self.tokenizer(words.flat_values)
        if not isinstance(pieces, tf.RaggedTensor):
            pieces = tf.RaggedTensor.from_tensor(pieces)
        pieces = tf.cast(pieces, tf.int32)
        empty = tf.equal(pieces.row_lengths(), 0)
        count = tf.reduce_sum(tf.cast(empty, tf.int32))
        unk = tf.RaggedTensor.from_row_lengths(tf.fill([count], self.unk_id), tf.cast(empty, tf.int64))
        return words.with_flat_values(tf.concat([pieces, unk], axis=1))

    def _pack(self, questions, contexts):
        T = self.sequence_length
        question = self._pieces(split_with_offsets(questions)[0]).merge_dims(1, 2)  # (B, Q) sub-word ids
        question_cut = question.row_lengths() > self.max_question_tokens  # (B,)
        question = question[:, :self.max_question_tokens]
        words, begin, end = split_with_offsets(contexts)  # (B, W)
        pieces = self._pieces(words)  # (B, W, P)
        per_word = pieces.row_lengths(axis=2)  # (B, W)
        context = pieces.merge_dims(1, 2)  # (B, C)
        token_begin = context.with_flat_values(tf.repeat(begin.flat_values, per_word.flat_values))  # (B, C)
        token_end = context.with_flat_values(tf.repeat(end.flat_values, per_word.flat_values))

        q_len = tf.cast(question.row_lengths(), tf.int32)  # (B,)
        c_len = tf.cast(context.row_lengths(), tf.int32)  # (B,)
        room = T - 3 - q_len  # context sub-words a window holds beside its question
        windows = 1 + tf.maximum(0, (c_len - room + self.stride - 1) // self.stride)  # (B,)
        example = tf.repeat(tf.range(tf.shape(windows)[0]), windows)  # (N,)
        k = tf.ragged.range(windows).flat_values  # (N,) the window's number within its question
        window_start = k * self.stride
        context_length = tf.maximum(0, tf.minimum(tf.gather(room, example), tf.gather(c_len, example) - window_start))
        positions = tf.ragged.range(window_start, window_start + context_length)  # (N, L) into the context
        flat = tf.cast(tf.gather(context.row_starts(), example), tf.int32)[:, None] + positions
        piece_ids = tf.gather(context.flat_values, flat)  # (N, L)
        q_rows = tf.gather(question, example)  # (N, Q)
        n = tf.shape(example)[0]
        cls = tf.fill([n, 1], self.cls_id)
        sep = tf.fill([n, 1], self.sep_id)
        rows = tf.concat([cls, q_rows, sep, piece_ids, sep], axis=1)  # (N, 2 + Q + 1 + L + 1)
        token_ids = rows.to_tensor(default_value=self.pad_id, shape=[None, T])  # (N, T)
        return {"token_ids": token_ids, "example": example, "window_start": window_start,
                "context_position": 2 + tf.gather(q_len, example), "context_length": context_length,
                "token_begin": tf.cast(token_begin.to_tensor(default_value=-1), tf.int32),
                "token_end": tf.cast(token_end.to_tensor(default_value=-1), tf.int32),
                "question_cut": question_cut}


__all__ = ["QAPacker", "split_with_offsets"]
