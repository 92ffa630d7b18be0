"""Distillation (`trainer.distill`): the loss is Hinton's, the teacher stays as it was, the student alone learns
from it, only the student is saved, and a teacher that cannot teach this run is refused before any file is written.
(One replica against two with a teacher: tests/training/test_distributed.py.)"""

import hashlib

import keras
import numpy as np
import pytest
from conftest import CONFIGS
from helpers import CrashAfterEpoch
from sklearn.datasets import load_digits

from tfmodels import cli
from tfmodels.config import apply_overrides, demo_config, load_config
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.models import MLPClassifier
from tfmodels.saving import load_keras_model
from tfmodels.training.distillation import Distillation, SoftTargetKL
from tfmodels.verbs.evaluate import evaluate_run
from tfmodels.verbs.train import train

QUICK = ["logging.verbose=0", "logging.histogram_freq=0", "runtime.precision=float32"]


def _kl_by_hand(teacher, student, T):
    def log_softmax(z):
        z = z / T
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    p, q = log_softmax(teacher), log_softmax(student)
    return (np.exp(p) * (p - q)).sum(-1) * T * T


def test_the_soft_target_term_is_the_kl_of_the_softened_predictions_times_t_squared():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(6, 4)) * 3, rng.normal(size=(6, 4)) * 3
    for T in (1.0, 2.0, 5.0):
        assert float(SoftTargetKL(T)(teacher, student)) == pytest.approx(_kl_by_hand(teacher, student, T).mean(), rel=1e-5)
    assert float(SoftTargetKL(2.0)(teacher, teacher)) == pytest.approx(0.0, abs=1e-6)
    # Tokens: the mean over the weighted positions only (padding of weight 0 left out).
    teacher, student = rng.normal(size=(2, 5, 7)), rng.normal(size=(2, 5, 7))
    weight = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    expected = (_kl_by_hand(teacher, student, 2.0) * weight).sum() / weight.sum()
    assert float(SoftTargetKL(2.0)(teacher, student, sample_weight=weight)) == pytest.approx(expected, rel=1e-5)


def _classifier(units, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(3)])
    return model


def test_the_loss_mixes_labels_and_teacher_the_teacher_never_changes_and_evaluation_is_the_labels_alone():
    teacher, student = _classifier(16, 1), _classifier(4, 2)
    model = Distillation(student, teacher, temperature=3.0, alpha=0.25)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(3).normal(size=(32, 5)).astype("float32")
    y = np.random.default_rng(4).integers(0, 3, size=32)
    logits_s, logits_t = student(x).numpy(), teacher(x).numpy()
    hard = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits_s))
    soft = _kl_by_hand(logits_t, logits_s, 3.0).mean()
    assert float(model.compute_loss(x, y, model(x), training=True)) == pytest.approx(0.75 * hard + 0.25 * soft, rel=1e-5)
    assert float(model.compute_loss(x, y, model(x), training=False)) == pytest.approx(hard, rel=1e-5)

    before_teacher, before_student = teacher.get_weights(), student.get_weights()
    assert {id(v) for v in model.trainable_weights} == {id(v) for v in student.trainable_weights}
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    for a, b in zip(before_teacher, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, b) for a, b in zip(before_student, student.get_weights()))


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher") / "digits"
    train(apply_overrides(demo_config(), [*QUICK, "trainer.epochs=15"]), folder)
    return folder


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_student_taught_by_the_teacher_alone_learns_its_function_and_only_the_student_is_saved(digits_teacher, tmp_path):
    """alpha=1: the labels play no part in the loss; what the student knows, it learnt from the teacher."""
    before = _sha(digits_teacher / "model.keras")
    config = apply_overrides(demo_config(), [*QUICK, "trainer.epochs=15", "model.mlp.hidden_units=[32]",
                                             f"trainer.distill.teacher={digits_teacher}", "trainer.distill.alpha=1.0",
                                             "trainer.distill.temperature=2.0"])
    result = train(config, tmp_path / "student")
    assert _sha(digits_teacher / "model.keras") == before
    student = load_keras_model(tmp_path / "student" / "model.keras")
    assert isinstance(student, MLPClassifier)
    teacher = load_keras_model(digits_teacher / "model.keras")
    assert student.count_params() < teacher.count_params() / 3  # [32] against [256, 128]
    evaluation_student, evaluation_teacher = evaluate_run(tmp_path / "student")[1], evaluate_run(digits_teacher)[1]
    assert evaluation_student["accuracy"] > 0.85, evaluation_student
    assert result.metrics["test"]["accuracy"] == pytest.approx(evaluation_student["accuracy"], abs=1e-6)
    x = load_digits().data.astype("float32") / 16.0  # all 1,797 digits, as the models read them (0..1)
    agreement = np.mean(np.argmax(student.predict(x, verbose=0), -1) == np.argmax(teacher.predict(x, verbose=0), -1))
    assert agreement > 0.9, agreement  # the student answers as its teacher does
    assert evaluation_teacher["accuracy"] > 0.9


def test_a_distilled_run_prunes_its_student_and_never_the_teacher(digits_teacher, tmp_path):
    config = apply_overrides(demo_config(), [*QUICK, "trainer.epochs=3", f"trainer.distill.teacher={digits_teacher}",
                                             "trainer.pruning.target_sparsity=0.5"])
    before = _sha(digits_teacher / "model.keras")
    result = train(config, tmp_path / "student")
    assert len(result.metrics["sparsity"]["kernels"]) == 3  # the student's three Dense kernels, not the teacher's
    assert all(v == pytest.approx(0.5, abs=1e-3) for v in result.metrics["sparsity"]["kernels"].values())
    assert _sha(digits_teacher / "model.keras") == before


GOOD = ["a great film", "i loved the story", "wonderful acting", "the music is beautiful", "a moving ending",
        "great fun"]
BAD = ["a dull film", "i hated the story", "terrible acting", "the music is noisy", "a boring ending", "no fun"]


def _reviews(folder):
    rows = [f"1\t{t}" for t in GOOD] + [f"0\t{t}" for t in BAD]
    (folder / "reviews.tsv").write_text("\n".join(rows * 4) + "\n")
    return [f"data.train=tsv:{folder}/reviews.tsv", f"data.validation=tsv:{folder}/reviews.tsv", "data.test=null",
            "data.tokenizer.vocabulary_size=120", "data.tokenizer.sequence_length=12", "trainer.batch_size=8",
            "trainer.epochs=25", "trainer.warmup_steps=0", "trainer.schedule=constant",
            "trainer.early_stopping_patience=0", "trainer.learning_rate=0.01"]


def test_a_crashed_distillation_resumes_to_the_weights_of_one_that_never_stopped(digits_teacher, tmp_path):
    overrides = [*QUICK, "trainer.epochs=4", "model.mlp.hidden_units=[32]", "model.mlp.dropout=0.3",
                 "runtime.deterministic=true", f"trainer.distill.teacher={digits_teacher}"]
    uninterrupted = train(apply_overrides(demo_config(), overrides), tmp_path / "whole").model.get_weights()
    config = apply_overrides(demo_config(), overrides)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "run", callbacks=[CrashAfterEpoch(1)])
    logs = []
    resumed = train(config, tmp_path / "run", log=logs.append).model.get_weights()
    assert any("resuming after epoch 2" in line for line in logs), logs
    assert len(resumed) == len(uninterrupted) == 7
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def text_teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    train(apply_overrides(load_config(CONFIGS / "bow_synthetic.yaml"), [*QUICK, *_reviews(folder)]), folder / "bow")
    return folder / "bow"


def test_a_text_student_reads_the_teachers_vocabulary(text_teacher, tmp_path):
    config = apply_overrides(load_config(CONFIGS / "bow_synthetic.yaml"),
                             [*QUICK, *_reviews(tmp_path), "model.encoder.width=8",
                              f"trainer.distill.teacher={text_teacher}"])
    result = train(config, tmp_path / "student")
    assert (tmp_path / "student" / "vocabulary.txt").read_text() == (text_teacher / "vocabulary.txt").read_text()
    teacher_accuracy = evaluate_run(text_teacher)[1]["accuracy"]
    assert teacher_accuracy == 1.0 and result.metrics["validation"]["accuracy"] == 1.0, (teacher_accuracy, result.metrics)


def test_bad_teachers_are_refused_before_anything_is_written(digits_teacher, text_teacher, tmp_path):
    twelve = tmp_path / "twelve"
    train(apply_overrides(demo_config(), [*QUICK, "trainer.epochs=1", "model.num_classes=12"]), twelve)
    digits = lambda *o: apply_overrides(demo_config(), [*QUICK, "trainer.epochs=1", *o])  # noqa: E731
    cases = [
        (digits(f"trainer.distill.teacher={twelve}"), ConfigError,
         "has 12 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) and this run 10 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9); a student "
         "learns the teacher's classes"),
        (digits(f"trainer.distill.teacher={text_teacher}"), ConfigError,
         "is a text_classification run and this one image_classification"),
        (digits(f"trainer.distill.teacher={tmp_path / 'nothing'}"), RunDirError, "does not exist"),
        (apply_overrides(load_config(CONFIGS / "bow_synthetic.yaml"),
                         [*QUICK, *_reviews(tmp_path), "data.tokenizer.sequence_length=32",
                          f"trainer.distill.teacher={text_teacher}"]),
         ConfigError, "was trained with data.tokenizer.sequence_length=12 and this run has 32; set "
                      "data.tokenizer.sequence_length=12"),
    ]
    for config, error, message in cases:
        with pytest.raises(error) as raised:
            train(config, tmp_path / "student")
        assert message in str(raised.value)
        assert not (tmp_path / "student").exists()


@pytest.mark.parametrize("overrides,message", [
    (["trainer.distill.teacher=runs/t", "trainer.distill.temperature=0"], "trainer.distill.temperature must be positive"),
    (["trainer.distill.teacher=runs/t", "trainer.distill.alpha=1.5"], r"trainer.distill.alpha must be in [0, 1]"),
    (["trainer.distill.teacher= "], "trainer.distill.teacher is empty"),
])
def test_the_distill_config_refuses_what_cannot_be(overrides, message):
    with pytest.raises(ConfigError) as raised:
        apply_overrides(demo_config(), overrides).validate()
    assert message in str(raised.value)


def test_a_language_model_student_is_refused_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", str(CONFIGS / "gpt_shakespeare_char.yaml"), "--set", "trainer.distill.teacher=runs/t"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert ("trainer.distill is for classifiers (model.type=mlp, cnn, vit, transformer, bag_of_words, lstm, gru or "
            "textcnn); model.type=gpt") in err
