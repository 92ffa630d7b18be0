"""K-fold cross-validation: stratified, seeded folds of the training set (`data.folds`), `tfmodels cv` training each
as an ordinary run folder (resumable) and summarising mean and standard deviation, and its bad inputs."""

import json

import numpy as np
import pytest
from helpers import run_cli

from tfmodels.config import apply_overrides, demo_config, shipped_config
from tfmodels.data.examples import fold
from tfmodels.data.images import ImageSet
from tfmodels.errors import ConfigError, DataError
from tfmodels.verbs.cross_validate import cross_validate, summarise

QUICK = ["logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=2", "trainer.early_stopping_patience=0"]


def labelled(labels, names=False):
    labels = np.asarray(labels, np.int32)
    return ImageSet(np.arange(len(labels), dtype=np.float32)[:, None, None], None if names else labels, 1.0, "set",
                    label_names=[f"c{v}" for v in labels] if names else None)


@pytest.mark.parametrize("names", [False, True])
def test_folds_partition_the_examples_stratified_and_seeded(names):
    labels = np.repeat([0, 1, 2], [20, 12, 8])
    examples = labelled(labels, names)
    held_out = []
    for k in range(4):
        rest, validation = fold(examples, 4, k, seed=0)
        assert len(rest) + len(validation) == 40
        ids = validation.pixels[:, 0, 0].astype(int)
        assert not set(ids) & set(rest.pixels[:, 0, 0].astype(int))
        assert np.bincount(labels[ids], minlength=3).tolist() == [5, 3, 2]  # each class's share in every fold
        held_out.append(ids)
    assert sorted(np.concatenate(held_out).tolist()) == list(range(40))  # every example validated exactly once
    again = fold(examples, 4, 1, seed=0)[1].pixels
    np.testing.assert_array_equal(again, fold(examples, 4, 1, seed=0)[1].pixels)
    assert not np.array_equal(again, fold(examples, 4, 1, seed=1)[1].pixels)


def test_fold_counts_out_of_range_say_which_bound():
    examples = labelled(np.repeat([0, 1], [10, 3]))
    with pytest.raises(DataError, match="^cross-validation needs at least 2 folds, got 1$"):
        fold(examples, 1, 0)
    with pytest.raises(DataError, match=r"^4 stratified folds of 'set': its smallest class \('1'\) has 3 examples, "
                                        r"so use at most 3 folds$"):
        fold(examples, 4, 0)


def test_config_rules_of_folds():
    with pytest.raises(ConfigError, match="data.folds.count=1: cross-validation needs at least 2 folds"):
        apply_overrides(demo_config(), ["data.folds.count=1"]).validate()
    with pytest.raises(ConfigError, match=r"data.folds.index=3 is not a fold of 3: use 0 .. 2"):
        apply_overrides(demo_config(), ["data.folds.count=3", "data.folds.index=3"]).validate()
    with pytest.raises(ConfigError, match=r"data.folds \(cross-validation\) is for classifiers \(model.type=mlp, cnn"):
        apply_overrides(shipped_config("tagger_synthetic"), ["data.folds.count=3"]).validate()


def test_cv_trains_each_fold_as_a_run_summarises_them_and_resumes(tmp_path):
    config = apply_overrides(demo_config(), [*QUICK, "runtime.precision=float32"])
    result = cross_validate(config, 3, tmp_path / "cv")
    assert len(result.folds) == 3
    accuracies = [m["validation"]["accuracy"] for m in result.folds]
    summary = result.summary["validation"]["accuracy"]
    assert summary["values"] == accuracies
    assert summary["mean"] == pytest.approx(np.mean(accuracies))
    assert summary["sd"] == pytest.approx(np.std(accuracies, ddof=1))
    sizes = set()
    for k in range(3):
        run = tmp_path / "cv" / f"fold-{k + 1}"
        info = json.loads((run / "data.json").read_text())
        sizes.add(info["examples"]["validation"])
        assert f"fold {k + 1} of 3" in info["sources"]["validation"]
        assert "index: " + str(k) in (run / "config.yaml").read_text()
    assert sizes <= {419, 420}  # thirds of the 1,257 training digits; data.validation is not read
    written = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert written["folds"] == 3 and written["validation"]["accuracy"]["mean"] == pytest.approx(summary["mean"])
    assert "| validation accuracy |" in (tmp_path / "cv" / "cv.md").read_text()
    assert list((tmp_path / "cv" / "logs").glob("events.out.tfevents.*"))  # the HParams row
    lines = []
    again = cross_validate(config, 3, tmp_path / "cv", log=lines.append)  # finished folds are read, not trained
    assert lines == [f"fold {k} of 3: finished already in {tmp_path / 'cv' / f'fold-{k}'}" for k in (1, 2, 3)]
    assert again.summary == result.summary


def test_summary_has_mean_and_sample_sd_of_each_number():
    folds = [{"validation": {"accuracy": a, "loss": 1 - a, "per_class": {}}, "fit_seconds": 2.0} for a in (0.5, 0.7, 0.9)]
    summary = summarise(folds)
    assert summary["validation"]["accuracy"]["mean"] == pytest.approx(0.7)
    assert summary["validation"]["accuracy"]["sd"] == pytest.approx(0.2)
    assert "per_class" not in summary["validation"]


def test_cv_command_line_bad_folds(tmp_path):
    config = tmp_path / "digits.yaml"
    config.write_text("name: digits\n")
    result = run_cli("cv", config, "--folds", "1", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["error: --folds 1: cross-validation needs at least 2 folds"]
    result = run_cli("cv", config, "--folds", "200", "--set", "trainer.epochs=1", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: 200 stratified folds of 'digits': its smallest class ('8') has 122 examples, so use at most 122 folds"]
    assert not (tmp_path / "runs" / "digits-cv200" / "fold-1").exists()  # refused before any run folder
