"""Reading source -> target pairs: parallel files, JSON lines with named fields, the built-in pairs; what is refused."""

import json

import pytest

from tfmodels.data.parallel import load_pairs, synthetic_translations
from tfmodels.errors import DataError


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_parallel_files_pair_line_i_with_line_i(tmp_path):
    write(tmp_path / "train.de", ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen."])
    write(tmp_path / "train.en", ["A man rides a bike.", "Two dogs play."])
    pairs = load_pairs(f"parallel:{tmp_path}/train?source=de&target=en", "train")
    assert pairs.sources == ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen."]
    assert pairs.targets[1] == "Two dogs play." and pairs.fields == ("de", "en")


def test_parallel_files_of_different_lengths_are_refused_with_both_counts(tmp_path):
    write(tmp_path / "t.de", ["a", "b", "c"])
    write(tmp_path / "t.en", ["x", "y"])
    with pytest.raises(DataError, match=r"'.*t\.de' has 3 lines and '.*t\.en' has 2"):
        load_pairs(f"parallel:{tmp_path}/t?source=de&target=en", "train")


def test_an_empty_source_line_is_refused_with_file_and_line(tmp_path):
    write(tmp_path / "t.de", ["a", "  ", "c"])
    write(tmp_path / "t.en", ["x", "y", "z"])
    with pytest.raises(DataError, match=r"'.*t\.de' line 2 is empty"):
        load_pairs(f"parallel:{tmp_path}/t?source=de&target=en", "train")


def test_parallel_needs_both_suffixes(tmp_path):
    with pytest.raises(DataError, match=r"needs the two files' suffixes, e\.g\. parallel:"):
        load_pairs(f"parallel:{tmp_path}/t", "train")


def test_json_lines_read_the_named_fields(tmp_path):
    rows = [{"id": 1, "email": "Please  send the\nreport.", "subject": "Report"}, {"id": 2, "email": "Hi", "subject": "Hello"}]
    path = write(tmp_path / "a.jsonl", [json.dumps(r) for r in rows])
    pairs = load_pairs(f"jsonl:{path}?source=email&target=subject", "train")
    assert pairs.sources == ["Please send the report.", "Hi"] and pairs.targets == ["Report", "Hello"]


def test_a_json_line_without_the_named_field_is_refused_with_file_and_line(tmp_path):
    path = write(tmp_path / "a.jsonl", [json.dumps({"email": "x", "subject": "y"}), json.dumps({"email": "z"})])
    with pytest.raises(DataError, match=r"'.*a\.jsonl' line 2 has no field 'subject' \(its fields: email\)"):
        load_pairs(f"jsonl:{path}?source=email&target=subject", "train")
    bad = write(tmp_path / "b.jsonl", ["[1, 2]"])
    with pytest.raises(DataError, match=r"line 1 is a JSON list, not an object"):
        load_pairs(f"jsonl:{bad}", "train")


def test_sample_draws_a_fixed_subset_and_unknown_options_are_refused():
    full = load_pairs("synthetic_s2s", "train")
    sampled = load_pairs("synthetic_s2s?sample=50", "train")
    assert len(sampled) == 50 and set(sampled.sources) <= set(full.sources)
    assert load_pairs("synthetic_s2s?sample=50", "train").sources == sampled.sources
    with pytest.raises(DataError, match="unknown option 'colour'"):
        load_pairs("synthetic_s2s?colour=red", "train")


def test_the_built_in_pairs_translate_word_by_word_in_reverse():
    pairs = synthetic_translations("validation", 20)
    for source, target in zip(pairs.sources, pairs.targets):
        assert len(source.split()) == len(target.split())
    assert synthetic_translations("validation", 20).sources == pairs.sources != synthetic_translations("train", 20).sources


def test_the_shared_multi30k_and_aeslc_files_read_whole(shared_data):
    """The shipped configs' specs: every pair of the shared files, none refused (checked to the line)."""
    from tfmodels.config import shipped_config

    for name, counts in (("s2s_multi30k", (29_000, 1_014)), ("s2s_aeslc", (14_436, 1_960))):
        config = shipped_config(name)
        train, validation = load_pairs(config.data.train, "train"), load_pairs(config.data.validation, "validation")
        assert (len(train), len(validation)) == counts
        assert all(train.sources) and all(train.targets) and all(validation.targets)
    assert validation.fields == ("email", "subject")
