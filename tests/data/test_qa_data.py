"""SQuAD-format reading (and its refusals), the carve by article, and the windows of the packer: every
target and every decoded span maps back to the exact characters of the context."""

import json

import numpy as np
import pytest

from tfmodels.config import Config
from tfmodels.data.qa import carve_by_article, load_qa, synthetic_qa
from tfmodels.data.qa_packer import QAPacker
from tfmodels.data.tokenizers import TextPreprocessor, learn_vocabulary
from tfmodels.errors import DataError
from tfmodels.tasks.question_answering import answer_targets, pack

CONTEXT = "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California. The Denver Broncos won."


def squad_file(path, articles=None, **changes):
    articles = articles or [{"title": "Super_Bowl", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q1", "question": "Where was Super Bowl 50 played?",
         "answers": [{"text": "Levi's Stadium", "answer_start": 28}, {"text": "Santa Clara, California",
                                                                      "answer_start": 46}]},
        {"id": "q2", "question": "Who won?", "answers": [{"text": "Denver Broncos", "answer_start": 75}]}]}]}]
    document = {"version": "1.1", "data": articles, **changes}
    path.write_text(json.dumps(document), encoding="utf-8")
    return f"squad:{path}"


def test_a_squad_file_reads_questions_contexts_and_every_gold_answer(tmp_path):
    qa = load_qa(squad_file(tmp_path / "s.json"), "train")
    assert qa.questions == ["Where was Super Bowl 50 played?", "Who won?"]
    assert qa.answers[0] == [("Levi's Stadium", 28), ("Santa Clara, California", 46)]
    assert qa.gold_texts()[1] == ["Denver Broncos"] and qa.ids == ["q1", "q2"] and qa.bad_answers == 0


def test_an_answer_whose_start_misses_its_text_is_skipped_and_counted(tmp_path):
    articles = [{"paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "a", "question": "Who won?", "answers": [{"text": "Denver Broncos", "answer_start": 70},
                                                        {"text": "Denver Broncos", "answer_start": 75}]},
        {"id": "b", "question": "Where?", "answers": [{"text": "Levi's Stadium", "answer_start": 3}]}]}]}]
    qa = load_qa(squad_file(tmp_path / "s.json", articles), "train")
    assert qa.bad_answers == 2 and qa.dropped_questions == 1  # question b has no answer left
    assert qa.answers == [[("Denver Broncos", 75)]]


@pytest.mark.parametrize("articles, message", [
    ([{"paragraphs": [{"context": "   ", "qas": []}]}], r"data\[0\]\.paragraphs\[0\]\.context is empty"),
    ([{"paragraphs": [{"context": CONTEXT, "qas": [{"question": "Who?", "answers": [{"text": "x"}]}]}]}],
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]\.answer_start should be an integer"),
    ([{"paragraphs": {"context": CONTEXT}}], r"data\[0\]\.paragraphs should be a list"),
    ([{"paragraphs": [{"context": CONTEXT, "qas": [{"question": "Who?", "answers": [], "is_impossible": True}]}]}],
     r"unanswerable \(is_impossible, SQuAD v2\.0\)"),
])
def test_a_malformed_file_names_the_file_and_the_json_path(tmp_path, articles, message):
    spec = squad_file(tmp_path / "bad.json", articles)
    with pytest.raises(DataError, match=message) as e:
        load_qa(spec, "train")
    assert "bad.json" in str(e.value) and "\n" not in str(e.value)


def test_a_file_that_is_not_json_says_where(tmp_path):
    (tmp_path / "broken.json").write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json' is not JSON \(line 1, column 11"):
        load_qa(f"squad:{tmp_path / 'broken.json'}", "train")


def test_the_validation_carve_holds_whole_articles():
    qa = synthetic_qa("train")
    train, validation = carve_by_article(qa, 0.1)
    assert len(train) + len(validation) == len(qa)
    assert not set(train.articles) & set(validation.articles)
    assert len(set(validation.articles)) == round(0.1 * len(set(qa.articles)))
    assert carve_by_article(qa, 0.1)[1].ids == validation.ids  # whatever the run's seed


def make_packer(texts, sequence_length=32, stride=8, max_question_tokens=12):
    config = Config()
    vocabulary = learn_vocabulary(texts, config.data.tokenizer, seed=0)
    pre = TextPreprocessor(vocabulary, config.data.tokenizer)
    return QAPacker(pre.tokenizer, pre.cls_id, pre.sep_id, pre.pad_id, vocabulary.index("[UNK]"), sequence_length,
                    stride, max_question_tokens), vocabulary


def test_windows_overlap_by_the_stride_and_every_target_spells_its_answer():
    qa = synthetic_qa("validation")
    packer, vocabulary = make_packer(qa.contexts + qa.questions)
    packed = pack(qa, packer)
    assert len(packed.token_ids) > len(qa)  # some contexts need two windows or more
    for b in range(len(qa)):
        windows = np.flatnonzero(packed.example == b)
        assert list(packed.window_start[windows]) == [8 * k for k in range(len(windows))]
        ends = packed.window_start[windows] + packed.context_length[windows]
        assert ends[-1] == np.sum(packed.token_begin[b] >= 0)  # the last window reaches the context's end
        assert np.all(ends[:-1] < ends[-1])
    targets = answer_targets(qa, packed)
    found = set()
    for n, (first, last) in enumerate(targets):
        if first == 0:
            continue
        b = packed.example[n]
        c0 = packed.window_start[n] + first - packed.context_position[n]
        c1 = packed.window_start[n] + last - packed.context_position[n]
        context = qa.contexts[b].encode()
        assert context[packed.token_begin[b, c0]:packed.token_end[b, c1]].decode() == qa.answers[b][0][0]
        assert vocabulary[packed.token_ids[n, 0]] == "[CLS]" and vocabulary[packed.token_ids[n, first]] != "[SEP]"
        found.add(b)
    assert found == set(range(len(qa)))  # every answer lies whole in some window


def test_chinese_text_splits_into_characters_with_exact_offsets():
    context = "在歐洲，梵語的學術研究由德國學者開創。"
    packer, vocabulary = make_packer([context, "誰開創了梵語研究？"], sequence_length=24, stride=4)
    out = {k: v.numpy() for k, v in packer(["誰開創了梵語研究？"], [context]).items()}
    begins = out["token_begin"][0][out["token_begin"][0] >= 0]
    assert len(begins) == len(context)  # one sub-word a character
    raw = context.encode()
    assert [raw[b:e].decode() for b, e in zip(begins, out["token_end"][0])] == list(context)
    assert out["example"].tolist() == [0] * len(out["example"]) and len(out["example"]) > 1


def test_a_long_question_is_cut_and_said_so():
    packer, _ = make_packer(["a b c d"], max_question_tokens=4)
    out = packer(["a b c d a b c d", "a b"], ["a b c", "d"])
    assert out["question_cut"].numpy().tolist() == [True, False]
    assert out["context_position"].numpy().tolist() == [6, 4]  # [CLS] + 4 question tokens + [SEP]
