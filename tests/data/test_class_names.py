"""Labels that are class names (positive/negative, spam/ham): ids in sorted order, or the config's;
the names kept in the run folder and returned by the SavedModel and `predict`; and `predict`'s
arguments that look like files but are not."""

import pytest
from conftest import CONFIGS

from tfmodels import cli
from tfmodels.config import apply_overrides, load_config
from tfmodels.data.text import assign_class_ids, load_text
from tfmodels.errors import DataError
from tfmodels.files import read_json
from tfmodels.verbs.export import export_run
from tfmodels.verbs.predict import predict
from tfmodels.verbs.train import train

SMALL = ["model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2", "model.encoder.ffn_dim=64",
         "data.tokenizer.vocabulary_size=300", "data.tokenizer.sequence_length=32", "logging.verbose=0",
         "logging.histogram_freq=0", "trainer.epochs=2", "trainer.warmup_steps=5"]


def _named_table(path, size, split):
    texts = load_text(f"synthetic?size={size}&split={split}", split)
    names = ["negative", "positive"]
    path.write_text("sentiment\treview\n" + "".join(f"{names[y]}\t{t}\n" for t, y in zip(texts.texts, texts.labels)))
    return texts


def test_names_become_ids_in_sorted_or_configured_order(tmp_path):
    path = tmp_path / "mail.csv"
    path.write_text("spam,buy now\nham,hello there\nspam,cheap pills\n")
    texts = load_text(f"csv:{path}?text_column=1&label_column=0", "train")
    assert texts.class_names == ["ham", "spam"] and list(texts.labels) == [1, 0, 1]
    sets = {"train": texts, "test": load_text(f"csv:{path}?text_column=1&label_column=0", "test")}
    assert assign_class_ids(sets, ["spam", "ham"]) == ["spam", "ham"]
    assert list(sets["train"].labels) == [0, 1, 0] and list(sets["test"].labels) == [0, 1, 0]
    # A test folder that lacks a class keeps the training set's ids (by name, not by position).
    for role, classes in (("train", ("bad", "good", "meh")), ("test", ("good", "meh"))):
        for name in classes:
            (tmp_path / role / name).mkdir(parents=True)
            (tmp_path / role / name / "a.txt").write_text(f"a {name} film")
    sets = {role: load_text(f"dir:{tmp_path / role}", role) for role in ("train", "test")}
    assign_class_ids(sets)
    assert list(sets["test"].labels) == [1, 2]
    with pytest.raises(DataError, match="example 0 .* has the class 'good', which is not one of data.text.class_names"):
        assign_class_ids({"train": load_text(f"dir:{tmp_path / 'test'}", "train")}, ["bad", "meh"])


@pytest.mark.slow
def test_a_run_on_named_labels_predicts_names(tmp_path, capsys):
    """Train on a TSV labelled negative/positive; the run folder, the SavedModel and `predict` speak names;
    predict refuses a misspelt file name, a folder, an empty text and a damaged SavedModel in one line."""
    train_tsv, test_tsv = tmp_path / "train.tsv", tmp_path / "test.tsv"
    _named_table(train_tsv, 1500, "train")
    _named_table(test_tsv, 200, "test")
    config = apply_overrides(load_config(CONFIGS / "encoder_synthetic.yaml"),
                             [*SMALL, f"data.train=tsv:{train_tsv}", f"data.test=tsv:{test_tsv}",
                              "data.validation=null"])
    result = train(config, tmp_path / "run")
    assert read_json(tmp_path / "run" / "data.json")["class_names"] == ["negative", "positive"]
    assert result.metrics["test"]["accuracy"] > 0.6
    out = export_run(tmp_path / "run", out=tmp_path / "export")
    answer = predict(out, [f"tsv:{test_tsv}"])
    rows = len(test_tsv.read_text().splitlines()) - 1
    assert set(answer.class_names) == {"negative", "positive"} and answer.labels.size == rows
    assert (answer.class_ids == answer.labels).mean() > 0.6
    assert predict(out, ["the film is good and the ending is great"]).class_names[0] in ("negative", "positive")

    def error(*args):
        code = cli.main(["predict", str(out), *map(str, args)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: ") and "\n" not in err, err
        return err

    assert "'reviews.txt' looks like a file name, but there is no such file" in error("reviews.txt")
    assert "is a folder; give a file (one text a line), a data spec such as dir:" in error(tmp_path)
    assert "an input is empty: there is nothing to classify" in error("")
    assert cli.main(["predict", str(out), "--text", "reviews.txt"]) == 0  # said to be text: classified
    capsys.readouterr()
    (out / "saved_model.pb").write_bytes((out / "saved_model.pb").read_bytes()[:100])
    assert f"'{out}' is a damaged or unreadable SavedModel" in error("a good film")
