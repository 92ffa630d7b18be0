import json
import time
from pathlib import Path

import pytest
from conftest import CONFIGS

from tfmodels.config import Config, apply_overrides
from tfmodels.errors import RunDirError
from tfmodels.files import atomic_write_json
from tfmodels.run_folder import (
    FINISHED,
    RunPaths,
    choose_run_dir,
    prepare_run_dir,
    remove_finished_run,
    require_finished,
)


def test_new_run_folder_gets_config_and_subfolders(tmp_path):
    paths, resumed = prepare_run_dir(tmp_path / "run", Config())
    assert not resumed
    assert paths.config.is_file() and paths.checkpoints.is_dir() and paths.logs.is_dir()


def test_same_config_resumes_other_config_is_refused(tmp_path):
    prepare_run_dir(tmp_path / "run", Config())
    _, resumed = prepare_run_dir(tmp_path / "run", Config())
    assert resumed
    other = apply_overrides(Config(), ["trainer.epochs=2", "model.mlp.dropout=0.5"])
    with pytest.raises(RunDirError, match=r"unfinished run of another config \(differs at model.mlp.dropout, trainer.epochs\)"):
        prepare_run_dir(tmp_path / "run", other)


def test_finished_run_is_refused(tmp_path):
    paths, _ = prepare_run_dir(tmp_path / "run", Config())
    atomic_write_json(paths.metrics, {"status": FINISHED})
    with pytest.raises(RunDirError, match="already holds a finished run; --overwrite trains again in it"):
        prepare_run_dir(tmp_path / "run", Config())


def test_a_second_train_of_a_finished_config_gets_a_folder_named_by_the_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Config()
    base = Path("runs") / config.name
    assert choose_run_dir(config) == (base, None)  # new
    paths, _ = prepare_run_dir(base, config)
    assert choose_run_dir(config) == (base, None)  # unfinished: a rerun resumes it
    atomic_write_json(paths.metrics, {"status": FINISHED})
    noon = time.mktime((2026, 12, 5, 12, 0, 0, 0, 0, -1))
    folder, why = choose_run_dir(config, now=noon)
    assert folder == Path("runs") / f"{config.name}-20261205-120000"
    assert why == f"{base} holds a finished run: this one trains in {folder} (--run-dir chooses the folder)"
    prepare_run_dir(folder, config)  # ... and crashes: the rerun resumes that folder, not a third one
    assert choose_run_dir(config, now=noon + 60) == (folder, f"resuming the unfinished {folder} ({base} holds a "
                                                             "finished run)")
    other = apply_overrides(config, ["trainer.epochs=7"])  # another config of the same name starts afresh
    assert choose_run_dir(other, now=noon)[0] == Path("runs") / f"{config.name}-20261205-120000-2"
    atomic_write_json(RunPaths(folder).metrics, {"status": FINISHED})
    assert choose_run_dir(config, now=noon + 60)[0] == Path("runs") / f"{config.name}-20261205-120100"


def test_overwrite_deletes_only_a_finished_run(tmp_path):
    paths, _ = prepare_run_dir(tmp_path / "run", Config())
    remove_finished_run(paths.root)
    assert paths.config.is_file()  # unfinished: kept, to resume
    atomic_write_json(paths.metrics, {"status": FINISHED})
    remove_finished_run(paths.root)
    assert not paths.root.exists()
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    remove_finished_run(tmp_path / "stuff")  # not a run folder: never deleted
    assert (tmp_path / "stuff" / "notes.txt").is_file()


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="is not empty and is not a run folder"):
        prepare_run_dir(tmp_path / "stuff", Config())


def test_require_finished_says_what_is_missing(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        require_finished(RunPaths(tmp_path / "none"))
    paths, _ = prepare_run_dir(tmp_path / "run", Config())
    with pytest.raises(RunDirError, match=r"holds no finished run \(status: unfinished\)"):
        require_finished(paths)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_write_json(tmp_path / "m.json", {"a": 2})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


# --- one train at a time in a run folder ------------------------------------------------------------

def test_a_second_train_of_a_held_run_folder_is_refused_and_a_killed_holder_does_not_stick(tmp_path, capsys):
    """A double-submitted job: while one process holds `run`, `tfmodels train --run-dir run` exits with one
    line and writes nothing; once the holder is SIGKILLed, the folder can be taken again."""
    import signal
    import subprocess
    import sys

    from tfmodels import cli
    from tfmodels.run_folder import RunLock

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from tfmodels.run_folder import RunLock\n"
                               "with RunLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code = cli.main(["train", str(CONFIGS / "mlp_digits.yaml"), "--run-dir", str(run), "--set", "trainer.epochs=1",
                         "--set", "logging.verbose=0"])
        err = capsys.readouterr().err.strip()
        assert code != 0 and len(err.splitlines()) == 1, err
        assert f"run folder '{run}' is in use by another tfmodels train (pid {holder.pid})" in err
        assert not run.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(run):  # the kernel dropped the killed holder's lock
        pass
    assert not (tmp_path / ".run.lock").exists()
