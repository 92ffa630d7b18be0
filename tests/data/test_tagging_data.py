"""Tagged words: CoNLL and CoNLL-U reading, tag schemes, and the alignment of words and sub-words."""

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.config import TokenizerConfig
from tfmodels.data.tag_schemes import allowed_transitions, bad_tag, convert, spans
from tfmodels.data.tagging import ReadOptions, carve_by_sentence, load_tagged, read_conll, read_propbank
from tfmodels.data.tokenizers import TextPreprocessor, learn_vocabulary
from tfmodels.data.word_packer import WordPacker, split_words
from tfmodels.errors import DataError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER


BRUSSELS NNP B-NP I-LOC
"""


def test_conll_columns_docstart_and_blank_lines_iob1_converted(tmp_path):
    path = write(tmp_path, "a.txt", CONLL)
    tagged = read_conll(str(path), ReadOptions(token_column=0, tag_column=3, scheme="iob1", learn_scheme="iob2"))
    assert tagged.words == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert tagged.tags == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    bioes = load_tagged(f"conll:{path}?tag_column=-1&scheme=iob1", "train", ReadOptions(learn_scheme="bioes"))
    assert bioes.tags == [["S-ORG", "O", "S-MISC", "O"], ["B-PER", "E-PER"], ["S-LOC"]]


@pytest.mark.parametrize("tags,scheme,iob2", [
    (["I-PER", "I-PER", "B-PER", "O"], "iob1", ["B-PER", "I-PER", "B-PER", "O"]),
    (["B-LOC", "I-LOC", "E-LOC", "S-ORG"], "bioes", ["B-LOC", "I-LOC", "I-LOC", "B-ORG"]),
    (["B-NAME", "M-NAME", "E-NAME", "S-ORG", "O"], "bmes", ["B-NAME", "I-NAME", "I-NAME", "B-ORG", "O"]),
])
def test_schemes_convert_through_their_spans(tags, scheme, iob2):
    assert convert(tags, "iob2") == iob2
    assert spans(convert(iob2, "bioes")) == spans(iob2) == spans(tags)
    assert all(bad_tag(t, scheme) is None for t in tags)


def test_an_i_tag_with_no_b_before_it_starts_an_entity():
    assert spans(["O", "I-ORG", "I-ORG", "I-PER"]) == [("ORG", 1, 2), ("PER", 3, 3)]


def test_allowed_transitions_of_iob2_and_bioes():
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    allowed = allowed_transitions(labels, "iob2")
    start, end = len(labels), len(labels)
    assert not allowed[start, 2] and allowed[start, 1] and allowed[start, 0]  # no I-A first
    assert allowed[1, 2] and allowed[2, 2] and not allowed[3, 2] and not allowed[0, 2]
    assert allowed[2, end]
    bioes = ["O", "B-A", "I-A", "E-A", "S-A"]
    allowed = allowed_transitions(bioes, "bioes")
    assert allowed[1, 3] and not allowed[1, 0] and not allowed[1, end] and allowed[3, 0] and allowed[4, 1]


def test_a_line_with_the_wrong_number_of_columns_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.txt", "EU B-ORG 0\nrejects O\n")
    with pytest.raises(DataError, match=r"bad.txt:2: 2 columns where the file's lines have 3"):
        read_conll(str(path), ReadOptions())


def test_a_tag_outside_the_scheme_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.txt", "EU B-ORG\nsaid O\n\nX E-ORG\n")
    with pytest.raises(DataError, match=r"bad.txt:4: 'E-ORG' has prefix E-, which IOB2 does not use"):
        read_conll(str(path), ReadOptions())
    with pytest.raises(DataError, match=r"bad.txt:1: tag_column=5, but the lines have 2 columns"):
        read_conll(str(path), ReadOptions(tag_column=5))


PROPBANK = """# sent_id = 1
1\tBush\tBush\tPROPN\tNNP\t_\t2\tnsubj\t_\t_\t_\tARG0\t_
2\tnominated\tnominate\tVERB\tVBD\t_\t0\troot\t_\t_\tnominate.01\tV\t_
3\ttwo\ttwo\tNUM\tCD\t_\t4\tnummod\t_\t_\t_\t_\t_
4\tjudges\tjudge\tNOUN\tNNS\t_\t2\tobj\t_\t_\t_\tARG1\tARG0
5\tto\tto\tPART\tTO\t_\t6\tmark\t_\t_\t_\t_\t_
6\tserve\tserve\tVERB\tVB\t_\t2\tadvcl\t_\t_\tserve.01\tARG2\tV

1\tNo\tno\tDET\tDT\t_\t2\tdet\t_\t_\t\t
2\tverbs\tverb\tNOUN\tNNS\t_\t0\troot\t_\t_\t\t
"""


def test_propbank_gives_one_example_a_predicate_with_its_roles(tmp_path):
    tagged = read_propbank(str(write(tmp_path, "up.conllu", PROPBANK)))
    assert tagged.predicates == [1, 5] and tagged.sentence_ids == [0, 0]
    assert tagged.tags[0] == ["ARG0", "V", "O", "ARG1", "O", "ARG2"]
    assert tagged.tags[1] == ["O", "O", "O", "ARG0", "O", "V"]
    assert tagged.relations[0][3] == "obj" and tagged.heads[0][3] == 1


def test_propbank_role_columns_that_do_not_match_the_predicates_are_refused(tmp_path):
    text = PROPBANK.replace("\tserve.01\t", "\t_\t")  # two role columns, one predicate
    with pytest.raises(DataError, match=r"up.conllu:2: the sentence has 1 predicate\(s\) in column 11 but 2 role"):
        read_propbank(str(write(tmp_path, "up.conllu", text)))


def test_a_carve_by_sentence_keeps_every_predicate_of_a_sentence_together(tmp_path):
    tagged = read_propbank(str(write(tmp_path, "up.conllu", (PROPBANK.split("\n\n")[0] + "\n\n") * 10)))
    train, validation = carve_by_sentence(tagged, 0.3)
    assert not set(train.sentence_ids) & set(validation.sentence_ids)
    assert len(validation) == 2 * 3 and len(train) + len(validation) == len(tagged)


@pytest.fixture(scope="module")
def packer_parts():
    config = TokenizerConfig(vocabulary_size=200, sequence_length=12)
    vocabulary = learn_vocabulary(["the european commission said hello world peter"] * 5, config) + ["[PRED]"]
    return TextPreprocessor(vocabulary, config), vocabulary


def test_the_packer_puts_each_word_at_its_first_sub_word_and_counts_the_cut(packer_parts):
    preprocessor, vocabulary = packer_parts
    packer = WordPacker(preprocessor.tokenizer, preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id,
                        vocabulary.index("[UNK]"), 12)
    words = tf.ragged.constant([["European", "Commission", "said", "\x01", "hello", "world", "peter"], ["said"]])
    ids, starts = packer(words)
    ids, starts = ids.numpy(), starts.numpy()
    for row, sentence in zip(range(2), [["European", "Commission", "said", "\x01", "hello", "world", "peter"], ["said"]]):
        for w, word in enumerate(sentence):
            if starts[row, w] >= 0:
                pieces = list(preprocessor.tokenizer(word)) or [vocabulary.index("[UNK]")]
                assert ids[row, starts[row, w]] == pieces[0]  # the word's first sub-word
    assert ids[0, 0] == preprocessor.cls_id and ids[0, -1] == preprocessor.sep_id  # cut: [SEP] still closes it
    assert (starts[0] < 0).sum() > 0 and starts[1, 0] == 1 and (starts[1, 1:] == -1).all()
    assert np.all(np.diff(starts[0][starts[0] >= 0]) > 0)


def test_the_predicate_sits_between_two_markers(packer_parts):
    preprocessor, vocabulary = packer_parts
    marker = vocabulary.index("[PRED]")
    packer = WordPacker(preprocessor.tokenizer, preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id,
                        vocabulary.index("[UNK]"), 24, marker_id=marker)
    ids, starts = packer(tf.ragged.constant([["said", "hello"]]), tf.constant([1]))
    ids, starts = ids.numpy()[0], starts.numpy()[0]
    assert ids[starts[1] - 1] == marker and ids[starts[0]] != marker
    assert list(ids).count(marker) == 2


def test_words_split_on_whitespace_or_one_character_a_word():
    assert split_words(tf.constant(["a  b c"])).to_list() == [[b"a", b"b", b"c"]]
    assert split_words(tf.constant(["高 勇"]), "characters").to_list() == [["高".encode(), "勇".encode()]]


def test_the_shared_tagged_sets_read_whole(shared_data):
    base = shared_data / "text_tag"
    conll = load_tagged(f"conll:{base}/conll2003/train.txt", "train", ReadOptions())
    valid = load_tagged(f"conll:{base}/conll2003/valid.txt", "validation", ReadOptions())
    assert (len(conll), sum(map(len, conll.words))) == (14_041, 203_621)
    assert (len(valid), sum(map(len, valid.words))) == (3_250, 51_362)
    resume = load_tagged(f"conll:{base}/resume_ner_zh/train.char.bmes?scheme=bmes", "train", ReadOptions())
    assert len(resume) == 3_821 and {t.split("-")[-1] for t in resume.tag_set()} >= {"NAME", "ORG", "TITLE", "EDU"}
    srl = load_tagged(f"conllu:{base}/up_srl_en/en_ewt-up-dev.conllu", "train", ReadOptions())
    assert len(srl) == 4_977 and len(set(srl.sentence_ids)) <= 2_002
