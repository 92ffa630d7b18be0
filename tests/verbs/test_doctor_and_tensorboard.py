"""`tfmodels doctor` and `tfmodels tensorboard`."""

import pytest

from tfmodels import cli
from tfmodels.errors import RunDirError
from tfmodels.verbs.doctor import version_problems
from tfmodels.verbs.tensorboard import start_tensorboard, tensorboard_command

GOOD = {"tensorflow": "2.21.0", "keras": "3.15.1", "keras-hub": "0.32.0", "tensorflow-text": "2.21.1",
        "tensorflow-datasets": "4.9.10"}


def test_doctor_reports_everything_and_exits_0_on_the_tested_combination(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for start in ("versions: tensorflow 2.21", "  the tested combination", "devices: ", "strategy auto: default",
                  "bfloat16: ", "network: "):
        assert any(line.startswith(start) for line in out.splitlines()), (start, out)


@pytest.mark.parametrize("changes, bad_fragment", [
    ({"tensorflow-text": "2.20.0"}, "tensorflow-text 2.20.0 is built for TensorFlow 2.20, but TensorFlow is 2.21.0"),
    ({"keras": "2.15.0"}, "keras 2.15.0: tfmodels needs Keras 3"),
    ({"keras-hub": None}, "keras-hub is not installed"),
])
def test_known_bad_combinations_are_named(changes, bad_fragment):
    bad, _ = version_problems({**GOOD, **changes})
    assert any(bad_fragment in problem for problem in bad), bad


def test_an_untested_but_not_known_bad_version_is_only_noted():
    bad, untested = version_problems({**GOOD, "tensorflow-datasets": "4.10.0"})
    assert bad == [] and untested == ["tensorflow-datasets 4.10.0 (tested: 4.9.*)"]
    assert version_problems(GOOD) == ([], [])


def test_doctor_exits_1_on_a_known_bad_combination(capsys, monkeypatch):
    import tfmodels.verbs.doctor as doctor

    monkeypatch.setattr(doctor, "installed_versions", lambda: {**GOOD, "tensorflow-text": "2.20.0"})
    assert cli.main(["doctor"]) == 1
    assert "KNOWN BAD: tensorflow-text 2.20.0" in capsys.readouterr().out


def test_tensorboard_runs_on_the_runs_folder_bound_to_localhost(tmp_path):
    calls = []

    class Done:
        returncode = 0

    assert start_tensorboard(tmp_path, port=6123, log=lambda _: None, run=lambda argv: calls.append(argv) or Done()) == 0
    (argv,) = calls
    assert argv == tensorboard_command(tmp_path, 6123)
    assert argv[argv.index("--logdir") + 1] == str(tmp_path) and argv[argv.index("--host") + 1] == "localhost"


def test_tensorboard_prints_the_command_when_it_cannot_start(tmp_path):
    said = []

    def cannot(argv):
        raise OSError("no such file")

    assert start_tensorboard(tmp_path, log=said.append, run=cannot) == 1
    assert "could not start" in said[-1] and f"tensorboard --logdir {tmp_path} --host localhost" in said[-1]


def test_tensorboard_on_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RunDirError, match="runs folder '.*nothing' does not exist"):
        start_tensorboard(tmp_path / "nothing", log=lambda _: None)
