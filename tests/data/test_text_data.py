"""Text sources, the synthetic task, tokenization and the text pipeline."""

import tarfile
from collections import Counter, defaultdict

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.config import TextTableOptions, TokenizerConfig
from tfmodels.data import synthetic
from tfmodels.data.text import load_text
from tfmodels.data.text_pipeline import text_dataset, token_ids
from tfmodels.data.tokenizers import RESERVED_TOKENS, TextPreprocessor, learn_vocabulary
from tfmodels.errors import ConfigError, DataError

# --- the synthetic task ------------------------------------------------------------------------


def test_synthetic_splits_are_disjoint_balanced_and_fixed():
    splits = {name: load_text("synthetic", name) for name in ("train", "validation", "test")}
    assert [len(splits[n]) for n in ("train", "validation", "test")] == [20_000, 2_000, 2_000]
    assert not set(splits["train"].texts) & set(splits["test"].texts)
    assert not set(splits["validation"].texts) & set(splits["test"].texts)
    assert 0.45 < splits["train"].labels.mean() < 0.55
    assert load_text("synthetic", "test").texts == splits["test"].texts
    assert splits["train"].class_names == ["negative", "positive"]


def test_synthetic_labels_follow_scope_and_order():
    # The clause after "but" decides; "not" flips its own clause only.
    positive, negative = synthetic.POSITIVE[0], synthetic.NEGATIVE[0]
    texts, labels = synthetic.synthetic_reviews("train", size=5000)
    lookup = dict(zip(texts, labels))
    for text, label in lookup.items():
        last_clause = text.split(" but ")[-1].split()
        adjective = last_clause[-1]
        expected = (adjective in synthetic.POSITIVE) != ("not" in last_clause)
        assert label == int(expected), text
    assert positive in synthetic.POSITIVE and negative in synthetic.NEGATIVE


def test_a_bag_of_words_cannot_do_better_than_about_070():
    # The best any order-blind model can do: the majority label of each bag of content words.
    texts, labels = synthetic.synthetic_reviews("train")
    content = set(synthetic.POSITIVE) | set(synthetic.NEGATIVE) | {"not", "but"}
    bags = defaultdict(Counter)
    for text, label in zip(texts, labels):
        bags[tuple(sorted(w for w in text.split() if w in content))][label] += 1
    best = sum(max(c.values()) for c in bags.values()) / len(texts)
    assert 0.6 < best < 0.75


# --- tables, folders, archives -----------------------------------------------------------------

def test_sst2_files(shared_data):
    train = load_text(f"tsv:{shared_data}/text_cls/sst2/train.tsv", "train")
    dev = load_text(f"tsv:{shared_data}/text_cls/sst2/dev.tsv", "test")  # its header names the text "content"
    assert len(train) == 67_349 and int(train.labels.sum()) == 37_569
    assert len(dev) == 872 and int(dev.labels.sum()) == 444
    assert train.texts[0] == "hide new secretions from the parental units"


def test_imdb_archive_read_without_unpacking(shared_data):
    archive = f"dir:{shared_data}/text_cls/imdb/aclImdb_train_val.tar.gz"
    val = load_text(f"{archive}?root=aclImdb/val", "test")
    assert len(val) == 5_000 and val.class_names == ["neg", "pos"] and int(val.labels.sum()) == 2_500


def test_csv_with_named_columns_and_quotes(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n1,"good, really",1\n2,"bad ""awful""",0\n')
    texts = load_text(f"csv:{path}?text_column=review&label_column=stars", "train")
    assert texts.texts == ["good, really", 'bad "awful"'] and list(texts.labels) == [1, 0]


def make_class_folders(root, with_archive=False):
    for label, words in (("neg", ["awful", "dull"]), ("pos", ["great", "fun"])):
        (root / "data" / label).mkdir(parents=True)
        for i, word in enumerate(words):
            (root / "data" / label / f"{i}.txt").write_text(f"a {word} film")
    if with_archive:
        with tarfile.open(root / "data.tar.gz", "w:gz") as archive:
            archive.add(root / "data", arcname="top/data")


def test_class_folders_and_their_archive_agree(tmp_path):
    make_class_folders(tmp_path, with_archive=True)
    folder = load_text(f"dir:{tmp_path}/data", "train")
    packed = load_text(f"dir:{tmp_path}/data.tar.gz?root=top/data", "train")
    assert folder.texts == packed.texts == ["a awful film", "a dull film", "a great film", "a fun film"]
    assert list(folder.labels) == list(packed.labels) == [0, 0, 1, 1]
    with pytest.raises(DataError, match="no ROOT/CLASS/FILE entries under root 'wrong'"):
        load_text(f"dir:{tmp_path}/data.tar.gz?root=wrong", "train")


@pytest.mark.parametrize("content, spec_suffix, message", [
    (b"", "", "is empty"),
    (b"label\ttext\n", "", "has a header but no examples"),
    (b"1\tgood\n\n0\tbad\n", "", "line 2 is empty"),
    (b"1\tgood\n0\t   \n", "", "line 2: the text is empty"),
    (b"1\tgood\nzero\tbad\n", "?header=false", "line 2: label 'zero' is not an integer"),
    (b"1\tgood\n-1\tbad\n", "", "line 2: label -1 is negative"),
    (b"1\tgood\n0\tbad\textra\n", "", "line 2: 3 columns, but the first line has 2"),
    (b"1\tgood\n0\tb\xe9d\n", "", r"line 2: invalid UTF-8 \(byte \d+\); save the file as UTF-8"),
    (b"label\tsentence\n1\tgood\n", "?text_column=review", "no text column named 'review'; columns are label, sentence"),
    (b"1\tgood\n", "?text_column=5", "the text column 5 does not exist; rows have 2 columns"),
    (b"1\tgood\n", "?text_column=review", "the text column 'review' is a name, but the file has no header"),
])
def test_bad_text_tables(tmp_path, content, spec_suffix, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_text(f"tsv:{path}{spec_suffix}", "train")


def test_text_kind_mismatches():
    with pytest.raises(DataError, match="'digits' is an image source, but this model takes text"):
        load_text("digits", "train")
    from tfmodels.data.images import load_images

    with pytest.raises(DataError, match="'synthetic' is a text source, but this model takes images"):
        load_images("synthetic", "train")


def test_tfds_text_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    from tfmodels.data import tfds_source

    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)
    with pytest.raises(DataError, match=r"'imdb_reviews' is not downloaded in .* network is unreachable"):
        load_text(f"tfds:imdb_reviews?data_dir={tmp_path}", "train")


def test_corpus_has_no_labels(tmp_path):
    (tmp_path / "corpus.txt").write_text("one line\n\nanother line\n")
    corpus = load_text(f"text:{tmp_path}/corpus.txt", "train", labelled=False)
    assert corpus.texts == ["one line", "another line"] and corpus.labels is None
    with pytest.raises(DataError, match="has no labels"):
        load_text(f"text:{tmp_path}/corpus.txt", "train")


# --- tokenization ------------------------------------------------------------------------------

def test_wordpiece_vocabulary_and_packing():
    config = TokenizerConfig(vocabulary_size=200, sequence_length=8)
    vocabulary = learn_vocabulary(load_text("synthetic", "train").texts, config)
    assert vocabulary[:5] == RESERVED_TOKENS and len(vocabulary) <= 200
    pre = TextPreprocessor(vocabulary, config)
    ids = pre(["The film is NOT dull", "the plot is really really really really really dull"]).numpy()
    assert ids.shape == (2, 8) and ids.dtype == np.int32
    assert list(ids[:, 0]) == [pre.cls_id] * 2
    assert list(ids[0, 6:]) == [pre.pad_id] * 2  # [CLS] + 5 tokens, then padding
    assert pre.pad_id not in ids[1]  # truncated to the sequence length
    words = [vocabulary[i] for i in ids[0, 1:6]]
    assert words == ["the", "film", "is", "not", "dull"]  # lower-cased


def test_cjk_text_is_split_per_character():
    config = TokenizerConfig(vocabulary_size=100, sequence_length=10)
    vocabulary = learn_vocabulary(["这部电影很好看", "这部电影很无聊"] * 5, config)
    pre = TextPreprocessor(vocabulary, config)
    ids = pre(["电影很好看"]).numpy()[0]
    assert [vocabulary[i] for i in ids[1:6]] == ["电", "影", "很", "好", "看"]


def test_character_tokenizer_keeps_word_boundaries():
    config = TokenizerConfig(kind="character", vocabulary_size=100, sequence_length=10)
    vocabulary = learn_vocabulary(["not bad", "good"], config)
    pre = TextPreprocessor(vocabulary, config)
    ids = pre(["not bad"]).numpy()[0]
    assert [vocabulary[i] for i in ids[1:7]] == ["n", "##o", "##t", "b", "##a", "##d"]


@pytest.mark.parametrize("overrides, message", [
    ({"sequence_length": 1}, "sequence_length must be at least 2"),
    ({"vocabulary_size": 5}, "vocabulary_size must be larger than the 5 reserved tokens"),
    ({"vocabulary_sample": 0}, "vocabulary_sample must be at least 1"),
])
def test_tokenizer_sizes_that_make_no_sense(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TokenizerConfig(**overrides).validate()


def test_text_pipeline_is_static_for_training():
    texts = load_text("synthetic?size=500", "train")
    config = TokenizerConfig(vocabulary_size=300, sequence_length=16)
    pre = TextPreprocessor(learn_vocabulary(texts.texts, config), config)
    ds = text_dataset(texts, pre, 32, training=True, seed=0)
    assert [d.shape.as_list() for d in ds.element_spec] == [[32, 16], [32]]
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 500 // 32
    evaluation = text_dataset(texts, pre, 32, training=False, seed=0)
    assert sum(len(y) for _, y in evaluation.as_numpy_iterator()) == 500


def test_training_ids_come_from_the_tensorflow_path_the_savedmodel_serves_with(monkeypatch):
    """Eagerly, keras-hub tokenizes in pure Python (~20x slower): the training ids must not come from there."""
    texts = load_text("synthetic?size=300", "train").texts
    config = TokenizerConfig(vocabulary_size=300, sequence_length=16)
    pre = TextPreprocessor(learn_vocabulary(texts, config), config)

    def refuse(*args, **kwargs):
        raise AssertionError("tokenized on keras-hub's pure-Python path")

    monkeypatch.setattr(pre.tokenizer, "_tokenize_python", refuse)
    ids = token_ids(texts, pre)
    serving = tf.function(lambda t: pre(t))  # as in the SavedModel's serving function
    np.testing.assert_array_equal(ids, serving(tf.constant(texts)).numpy())
    assert ids.shape == (300, 16)


def test_table_options_from_config(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("great film;1\nawful film;0\n")
    texts = load_text(f"csv:{path}", "train", TextTableOptions(text_column=0, label_column=1, delimiter=";"))
    assert texts.texts == ["great film", "awful film"] and list(texts.labels) == [1, 0]




def test_sample_option_draws_a_fixed_subset(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("".join(f"{i % 2}\ttext number {i}\n" for i in range(100)))
    a = load_text(f"tsv:{path}?sample=10", "train")
    b = load_text(f"tsv:{path}?sample=10", "train")
    assert len(a) == 10 and a.texts == b.texts
    assert len(load_text(f"tsv:{path}?sample=1000", "train")) == 100
    with pytest.raises(DataError, match="sample='ten' must be a positive whole number"):
        load_text(f"tsv:{path}?sample=ten", "train")


def test_a_long_document_in_a_table_is_read(tmp_path):
    """A 300,000-character review in one field (the csv module's default limit is 131,072)."""
    long_review = "a very long film " * 18_000
    path = tmp_path / "long.tsv"
    path.write_text(f"1\t{long_review}\n0\tshort and dull\n")
    texts = load_text(f"tsv:{path}", "train")
    assert len(texts.texts[0]) == len(long_review.strip()) and list(texts.labels) == [1, 0]
    csv_path = tmp_path / "long.csv"
    csv_path.write_text(f'label,text\n1,"{long_review}"\n0,short\n')
    assert len(load_text(f"csv:{csv_path}", "train").texts[0]) == len(long_review.strip())
