"""Causal-LM data: exact character and byte-level BPE codecs, one token stream, windows drawn from (seed, step) alone."""

import numpy as np
import pytest

from tfmodels.data.lm_pipeline import corpus_dataset, lm_dataset, split_stream
from tfmodels.data.lm_tokenizers import END_OF_TEXT, BytePairCodec, CharacterCodec, read_codec
from tfmodels.errors import DataError

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def test_the_character_codec_is_exact_and_names_what_it_does_not_know():
    codec = CharacterCodec.learn([TEXT])
    assert codec.characters == sorted(set(TEXT))
    assert codec.decode(codec.encode(TEXT)) == TEXT  # spaces, newlines and case kept
    with pytest.raises(DataError, match=r"the prompt has 2 character\(s\) the vocabulary of \d+ does not hold: "
                                        r"'Q', 'x'"):
        codec.encode("Quix", where="the prompt")


def test_byte_level_bpe_learns_merges_decodes_exactly_and_separates_documents(tmp_path):
    documents = [TEXT, "Ünïcödé, 日本語 and an emoji 🙂 nobody trained on.\tTabs ''s too."]
    codec = BytePairCodec.learn([TEXT] * 3, vocabulary_size=300)
    assert codec.vocabulary_size == 300 and len(codec.merges) > 0  # 256 bytes, <|endoftext|>, the merges
    ids = codec.encode(TEXT)
    assert len(ids) < len(TEXT) / 2  # merges learnt: fewer tokens than characters
    for text in documents:  # bytes: any text encodes, and decodes back to itself
        assert codec.decode(codec.encode(text)) == text
    stream = codec.stream(documents)
    separators = np.flatnonzero(stream == codec.vocabulary[END_OF_TEXT])
    assert len(separators) == 1  # one between the two documents, none after the last
    assert codec.decode(stream) == END_OF_TEXT.join(documents)
    codec.save(tmp_path)
    np.testing.assert_array_equal(read_codec(tmp_path).stream(documents), stream)  # the run folder's codec
    import tensorflow as tf
    np.testing.assert_array_equal(codec.tf_encode(tf.constant(documents[1])).numpy(), codec.encode(documents[1]))


def test_windows_are_next_token_pairs_of_static_shape():
    stream = CharacterCodec.learn([TEXT]).stream([TEXT])
    for x, y in lm_dataset(stream, 16, 4, seed=3, steps=5):
        assert x.shape == (4, 16) and y.shape == (4, 16)
        np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])  # y is x one token later
    for x, _ in lm_dataset(stream, 16, 4, seed=3, steps=1):  # each window is a piece of the stream
        text = "".join(map(chr, stream))  # as ids, a window is a substring of the stream
        assert all("".join(map(chr, row)) in text for row in x.numpy())


def test_windows_come_from_seed_and_step_alone():
    stream = np.arange(1000, dtype=np.int32)
    whole = [x.numpy() for x, _ in lm_dataset(stream, 8, 4, seed=1, steps=6)]
    resumed = [x.numpy() for x, _ in lm_dataset(stream, 8, 4, seed=1, first_step=4, steps=2)]
    np.testing.assert_array_equal(np.stack(whole[4:]), np.stack(resumed))  # a resumed run draws the same
    other = [x.numpy() for x, _ in lm_dataset(stream, 8, 4, seed=2, steps=6)]
    assert not np.array_equal(np.stack(whole), np.stack(other))
    evaluation = [[x.numpy() for x, _ in lm_dataset(stream, 8, 4, seed=1, training=False, num_batches=3)]
                  for _ in range(2)]
    np.testing.assert_array_equal(np.stack(evaluation[0]), np.stack(evaluation[1]))  # the same every time
    assert all(x.max() < 1000 and x.min() >= 0 for x in whole)


def test_split_is_contiguous_and_a_short_corpus_is_refused():
    stream = np.arange(100, dtype=np.int32)
    train, validation = split_stream(stream, 0.1)
    np.testing.assert_array_equal(np.concatenate([train, validation]), stream)
    assert len(validation) == 10 and validation[0] == 90
    with pytest.raises(DataError, match=r"the training text gives 10 tokens, fewer than one window of "
                                        r"block_size \+ 1 = 17"):
        lm_dataset(stream[:10], 16, 2, seed=0)
    np.testing.assert_array_equal(CharacterCodec(["a", "b", "c"]).stream(["ab", "c"]), [0, 1, 2])  # end to end


@pytest.mark.parametrize("length", [17, 21, 50])  # one window exactly; a ragged last window; several batches
def test_the_corpus_dataset_predicts_every_token_but_the_first_exactly_once(length):
    stream = np.arange(length, dtype=np.int32) + 100
    batches = list(corpus_dataset(stream, block_size=16, batch_size=2).as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    w = np.concatenate([b[2] for b in batches])
    assert x.shape[1] == y.shape[1] == w.shape[1] == 16
    predicted = y[w > 0]
    np.testing.assert_array_equal(predicted, stream[1:])  # each target once, in order
    np.testing.assert_array_equal(y[:, :-1][w[:, 1:] > 0], x[:, 1:][w[:, 1:] > 0])  # y is x shifted by one
    np.testing.assert_array_equal(x[:, 0], stream[np.arange(len(x)) * 16])  # windows follow each other
    with pytest.raises(DataError, match="fewer than one window of block_size \\+ 1 = 17"):
        corpus_dataset(stream[:16], block_size=16, batch_size=2)
