"""Progress on the console: the run's units (epochs or optimizer steps), one line a period when piped, the ETA."""

import io
import re
import sys

import keras
import numpy as np
import pytest

from tfmodels.training.callbacks import RunProgress, duration, progress_verbosity


def fit_with(progress: RunProgress, epochs: int = 3, initial_epoch: int = 0):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 2
    return model.fit(x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, callbacks=[progress],
                     validation_data=(x, y), verbose=2)


def test_one_line_an_epoch_with_the_run_eta():
    lines = []
    fit_with(RunProgress(3, 4, by_steps=False, verbose=2, print_fn=lines.append))
    assert len(lines) == 3  # fit added no logger of its own
    assert [line.split(" - ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    values = r"ms/step\) - loss: [\d.]+ - accuracy: [\d.]+ - val_loss: [\d.]+ - val_accuracy: "
    assert all(re.search(values, line) for line in lines)
    assert re.search(r"\| run: \d+s so far, about \d+s left$", lines[0])
    assert lines[-1].endswith("so far, done")


def test_a_run_trained_by_steps_says_steps_and_a_resumed_one_counts_from_its_backup():
    lines = []
    fit_with(RunProgress(3, 4, by_steps=True, verbose=2, print_fn=lines.append), initial_epoch=1)
    assert [line.split(" - ")[0] for line in lines] == ["steps 5-8/12", "steps 9-12/12"]
    assert not any("epoch" in line.lower() for line in lines)


def test_the_progress_bar_shows_steps_and_the_header_the_run_eta(capsys):
    lines = []
    fit_with(RunProgress(3, 4, by_steps=False, verbose=1, print_fn=lines.append))
    assert lines[0] == "epoch 1/3" and re.fullmatch(r"epoch 2/3 \(run: \d+s so far, about \d+s left\)", lines[1])
    assert lines[-1].endswith("done")
    bar = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without its colours
    assert re.search(r"4/4 ━+ \d+s \d+ms/step", bar)  # Keras's bar


def test_silent_prints_nothing(capsys):
    lines = []
    fit_with(RunProgress(3, 4, by_steps=False, verbose=0, print_fn=lines.append))
    assert lines == [] and capsys.readouterr().out == ""


@pytest.mark.parametrize("tty, expected", [(True, 1), (False, 2)])
def test_auto_is_a_bar_on_a_terminal_and_lines_in_a_file(monkeypatch, tty, expected):
    stream = io.StringIO()
    stream.isatty = lambda: tty
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert progress_verbosity("auto") == expected
    assert progress_verbosity(0) == 0


def test_durations_read_as_a_person_would():
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]
