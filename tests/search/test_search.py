"""`tfmodels search`: trials are run folders, the report is true to them, a killed search goes on where it
stopped without counting a trial twice, two workers share one study, a clearly worse trial is pruned."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import CONFIGS
from helpers import run_cli

from tfmodels.config import load_config
from tfmodels.errors import ConfigError, RunDirError
from tfmodels.search import check_study_dir, make_plan, run_worker, study_record

MLP = CONFIGS / "mlp_digits.yaml"
QUICK = ["--set", "trainer.epochs=3", "--set", "model.mlp.hidden_units=[32]", "--set", "logging.histogram_freq=0",
         "--set", "logging.verbose=0"]
SPACE = "trainer.learning_rate: {log_uniform: [3.0e-4, 3.0e-3]}\nmodel.mlp.dropout: [0.0, 0.2]\n"


def rows_of(study):
    with open(study / "trials.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def optuna_study(study):
    import optuna

    return optuna.load_study(study_name="search", storage=f"sqlite:///{study / 'study.db'}")


def optuna_trials(study):
    return optuna_study(study).get_trials()


def stale_trials(study):
    """The trials the search found dead (the study's record of them: tfmodels/search/study.py)."""
    from tfmodels.search.study import stale_trials as recorded

    numbers = set(recorded(optuna_study(study)))
    return [t for t in optuna_trials(study) if t.number in numbers]


def test_a_search_runs_trials_as_run_folders_and_reports_them_truly(workdir):
    (workdir / "space.yaml").write_text(SPACE)
    out = run_cli("search", MLP, "--space", "space.yaml", "--trials", "3", "--sampler", "random",
                  "--study-dir", "study", *QUICK, cwd=workdir).stdout
    study = workdir / "study"
    rows = rows_of(study)
    assert [r["trial"] for r in rows] == ["0", "1", "2"] and {r["state"] for r in rows} <= {"complete", "pruned"}
    for r in rows:  # each trial an ordinary finished run, its objective the best val_accuracy of its history
        run = study / r["run"]
        assert (run / "metrics.json").is_file() and (run / "model.keras").is_file()
        with open(run / "history.csv", newline="") as f:
            best = max(float(e["val_accuracy"]) for e in csv.DictReader(f))
        assert abs(float(r["val_accuracy"]) - best) < 1e-6
    best_row = max((r for r in rows if r["state"] == "complete"), key=lambda r: float(r["val_accuracy"]))
    best = load_config(study / "best.yaml")
    assert abs(best.trainer.learning_rate - float(best_row["trainer.learning_rate"])) < 1e-12
    assert best.model.mlp.dropout == float(best_row["model.mlp.dropout"]) and best.model.mlp.hidden_units == [32]
    assert f"tfmodels train {study / 'best.yaml'}" in out or "tfmodels train study/best.yaml" in out
    assert (study / "objective.png").read_bytes()[:4] == b"\x89PNG"
    # TensorBoard's HParams dashboard: the experiment at the top, a session in every trial.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    top = EventAccumulator(str(study / "logs")).Reload()
    assert "_hparams_/experiment" in top.Tags()["tensors"]
    session = EventAccumulator(str(study / rows[0]["run"] / "logs")).Reload()
    assert "_hparams_/session_start_info" in session.Tags()["tensors"]
    # `evaluate` and `export` work on a trial as on any run.
    assert "accuracy" in run_cli("evaluate", study / rows[0]["run"], cwd=workdir).stdout
    run_cli("export", study / rows[0]["run"], "--out", "exported", cwd=workdir)
    assert (workdir / "exported/saved_model.pb").is_file()
    # Rerun: the study is complete; nothing trains again.
    again = run_cli("search", MLP, "--space", "space.yaml", "--trials", "3", "--sampler", "random",
                    "--study-dir", "study", *QUICK, cwd=workdir).stdout
    assert "trial 3" not in again and len(rows_of(study)) == 3


def test_a_killed_search_goes_on_where_it_stopped_and_counts_each_trial_once(workdir):
    (workdir / "space.yaml").write_text(SPACE)
    command = [sys.executable, "-m", "tfmodels", "search", str(MLP), "--space", "space.yaml", "--trials", "3",
               "--sampler", "random", "--study-dir", "study", "--pruner", "none", *QUICK[:-2],
               "--set", "trainer.epochs=6"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    history = workdir / "study/trials/001/history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (history.is_file() and len(history.read_text().splitlines()) >= 3):
        time.sleep(0.2)  # killed in trial 1's third epoch (two epochs written)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert history.is_file(), "trial 1 never started"
    run_cli(*command[3:], cwd=workdir)
    rows = rows_of(workdir / "study")
    assert len(rows) == 3 and {r["state"] for r in rows} == {"complete"}, rows
    assert sorted(r["run"] for r in rows) == ["trials/000", "trials/001", "trials/002"]
    stale = stale_trials(workdir / "study")
    assert len(stale) == 1 and stale[0].number == 1  # the killed one, retried in its own folder
    with open(history, newline="") as f:
        epochs = [int(e["epoch"]) for e in csv.DictReader(f)]
    assert epochs == list(range(6)), epochs  # resumed from its backup: no epoch twice


def test_two_workers_share_one_study(workdir):
    (workdir / "space.yaml").write_text(SPACE)
    run_cli("search", MLP, "--space", "space.yaml", "--trials", "4", "--sampler", "random", "--workers", "2",
            "--study-dir", "study", *QUICK, "--set", "trainer.epochs=8", cwd=workdir)
    trials = optuna_trials(workdir / "study")
    assert len(trials) == 4 and len({t.user_attrs["pid"] for t in trials}) == 2
    assert len({(t.params["trainer.learning_rate"]) for t in trials}) == 4  # the workers sample apart


@pytest.mark.parametrize("pruner, epochs_seen", [("median", [0]), ("halving", [0, 1])])
def test_a_clearly_worse_trial_is_pruned(workdir, pruner, epochs_seen):
    """median: after the first epoch; successive halving: at its first rung (step 1, the second epoch)."""
    import optuna
    from optuna.distributions import FloatDistribution

    (workdir / "space.yaml").write_text("trainer.learning_rate: {log_uniform: [1.0e-7, 2.0e-7]}\n")
    plan = make_plan(MLP, workdir / "space.yaml", ["trainer.epochs=3", "model.mlp.hidden_units=[32]",
                                                    "logging.histogram_freq=0", "logging.verbose=0"],
                     trials=4, sampler="random", study_dir=workdir / "study", pruner=pruner)
    (workdir / "study").mkdir()
    study = optuna.create_study(study_name="search", storage=plan.storage_url, direction="maximize")
    for _ in range(3):  # three earlier trials that learnt (a learning rate of 1e-7 learns nothing in 3 epochs)
        study.add_trial(optuna.trial.create_trial(
            params={"trainer.learning_rate": 1.5e-7}, value=0.95, intermediate_values={0: 0.9, 1: 0.93, 2: 0.95},
            distributions={"trainer.learning_rate": FloatDistribution(1e-7, 2e-7, log=True)},
            system_attrs={"completed_rung_0": 0.93}))  # what the halving pruner recorded at their rung
    run_worker(plan, log=lambda _: None)
    last = optuna_trials(workdir / "study")[-1]
    assert last.state == optuna.trial.TrialState.PRUNED and list(last.intermediate_values) == epochs_seen, last


def test_max_time_stops_a_running_trial_at_an_epoch_end_and_the_next_search_resumes_it(workdir, monkeypatch):
    import socket
    from types import SimpleNamespace

    import tfmodels.training.trial_report as trial_report
    from tfmodels.search import open_study, report_rows, run_trial

    (workdir / "space.yaml").write_text(SPACE)
    plan = make_plan(MLP, workdir / "space.yaml", ["trainer.epochs=3", "model.mlp.hidden_units=[32]",
                                                    "logging.histogram_freq=0", "logging.verbose=0"],
                     trials=2, sampler="random", study_dir=workdir / "study")
    (workdir / "study").mkdir()
    study = open_study(plan)
    trial = study.ask()
    trial.set_user_attr("run", "000")
    trial.set_user_attr("host", socket.gethostname())
    with monkeypatch.context() as clock:  # the trial's clock says the deadline passed during its first epoch
        clock.setattr(trial_report, "time", SimpleNamespace(time=lambda: float("inf")))
        run_trial(study, trial, plan, lambda _: None, deadline=time.time() + 3600)
    history = workdir / "study/trials/000/history.csv"
    assert len(history.read_text().splitlines()) == 2  # one epoch, then stopped, the folder unfinished
    assert not (workdir / "study/trials/000/metrics.json").exists()
    assert [r["state"] for r in report_rows(plan)[0]] == ["stopped"]
    run_worker(plan, log=lambda _: None, deadline=time.time() - 1)  # past its deadline: nothing starts
    assert not (workdir / "study/trials/001").exists() and [r["state"] for r in report_rows(plan)[0]] == ["stopped"]
    run_worker(plan, log=lambda _: None)  # no deadline: trial 0 resumed in its folder, then trial 1
    rows, _ = report_rows(plan)
    assert [(r["run"], r["state"]) for r in rows] == [("trials/000", "complete"), ("trials/001", "complete")], rows
    with open(history, newline="") as f:
        assert [int(e["epoch"]) for e in csv.DictReader(f)] == [0, 1, 2]  # resumed: no epoch twice
    assert [t.number for t in stale_trials(workdir / "study")] == [0]


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("space, options, says", [
    ("trainer.learnin_rate: [0.001]\n", {}, "did you mean 'learning_rate'"),
    ("model.mlp.dropout: []\n", {}, "empty list of choices"),
    ("trainer.learning_rate: {log_uniform: [a, b]}\n", {}, "two numbers"),
    ("trainer.learning_rate: {uniform: [0.001, 0.01]}\n", {"sampler": "grid"}, "a grid cannot list"),
    ("model.mlp.dropout: [0.0]\n", {"objective": "val_f1"}, "--objective val_f1: a mlp run does not log it"),
    ("model.mlp.dropout: [0.0]\n", {"max_time": "soon"}, "--max-time 'soon'"),
    ("model.mlp.dropout: [0.0]\n", {"sampler": "bayes"}, "--sampler 'bayes'"),
    ("model.mlp.dropout: [0.0]\n", {"pruner": "hyperband"}, "--pruner 'hyperband'"),
    ("model.mlp.dropout: [0.0]\n", {"trials": 0}, "--trials must be at least 1"),
    ("model.mlp.dropout: [0.0]\n", {"folds": 1}, "--folds 1: cross-validation needs at least 2 folds (0: none)"),
])
def test_bad_searches_are_refused_before_any_trial(tmp_path, space, options, says):
    (tmp_path / "space.yaml").write_text(space)
    with pytest.raises(ConfigError) as error:
        make_plan(MLP, tmp_path / "space.yaml", study_dir=tmp_path / "study", **options)
    assert says in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_a_search_can_optimise_the_cross_validated_score(workdir):
    """--folds K: each trial is a `tfmodels cv` folder (trials/NNN/fold-k), its objective the mean over the folds of
    each fold's kept epoch, as cv.json says; nothing is pruned."""
    import json

    (workdir / "space.yaml").write_text("model.mlp.dropout: [0.0, 0.3]\n")
    out = run_cli("search", MLP, "--space", "space.yaml", "--trials", "2", "--sampler", "grid", "--folds", "3",
                  "--study-dir", "study", *QUICK, cwd=workdir).stdout
    assert "no pruning after an epoch" in out
    rows = rows_of(workdir / "study")
    assert [r["state"] for r in rows] == ["complete", "complete"]
    for r in rows:
        cv = json.loads((workdir / "study" / r["run"] / "cv.json").read_text())
        assert cv["folds"] == 3 and len(cv["validation"]["accuracy"]["values"]) == 3
        assert abs(float(r["val_accuracy"]) - cv["validation"]["accuracy"]["mean"]) < 1e-9
        assert (workdir / "study" / r["run"] / "fold-3" / "metrics.json").is_file()
    assert [t.user_attrs["cv_sd"] >= 0 for t in optuna_trials(workdir / "study")] == [True, True]


def test_a_grid_smaller_than_the_trials_runs_its_size_and_a_larger_one_is_refused(workdir):
    (workdir / "space.yaml").write_text("model.mlp.dropout: [0.0, 0.1, 0.2]\ntrainer.batch_size: [32, 64]\n")
    assert make_plan(MLP, "space.yaml", trials=10, sampler="grid").trials == 6
    result = run_cli("search", MLP, "--space", "space.yaml", "--sampler", "grid", "--trials", "4",
                     "--study-dir", "study", cwd=workdir, check=False)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --sampler grid: the grid has 6 points and --trials is 4; give --trials 6, fewer choices, "
        "or --sampler tpe"], result.stderr
    assert not (workdir / "study").exists()


def test_a_study_folder_made_for_another_config_is_refused(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    first = make_plan(MLP, tmp_path / "space.yaml", ["trainer.epochs=3"], study_dir=tmp_path / "study")
    (tmp_path / "study").mkdir()
    import json

    (tmp_path / "study/study.json").write_text(json.dumps(study_record(first)))
    assert check_study_dir(first) is True  # the same search: a resume
    other = make_plan(MLP, tmp_path / "space.yaml", ["trainer.epochs=5"], study_dir=tmp_path / "study")
    with pytest.raises(RunDirError, match=r"made for another search \(trainer.epochs: 3 there, 5 here\)"):
        check_study_dir(other)
    with pytest.raises(ConfigError, match="trains by steps"):
        make_plan(CONFIGS / "gpt_shakespeare_char.yaml", tmp_path / "space.yaml", study_dir=tmp_path / "s")


def test_a_trial_that_ends_while_another_worker_checks_it_is_not_taken_for_dead(workdir, monkeypatch):
    """Two workers: one lists the running trials, the other tells its trial's end and lets go of its lock,
    then the first finds the lock free. The trial ended; it must not be told failed (Optuna refuses:
    "Cannot tell a COMPLETE trial", a worker of `test_two_workers_share_one_study` died of it in CI)."""
    import socket

    from tfmodels.search import open_study
    from tfmodels.search.study import requeue_dead_trials

    (workdir / "space.yaml").write_text(SPACE)
    plan = make_plan(MLP, workdir / "space.yaml", [], trials=2, sampler="random", study_dir=workdir / "study")
    (workdir / "study").mkdir()
    study = open_study(plan)
    trial = study.ask()
    trial.set_user_attr("run", "000")
    trial.set_user_attr("host", socket.gethostname())
    listed = study.get_trials(deepcopy=True)  # the first worker's list: trial 0 running
    study.tell(trial, 0.9)  # the other worker: trial 0 ends, its lock is let go
    real = study.get_trials
    calls = []

    def get_trials(deepcopy=True, states=None):
        calls.append(states)
        if len(calls) == 1:
            return [t for t in listed if states is None or t.state in states]
        return real(deepcopy=deepcopy, states=states)

    monkeypatch.setattr(study, "get_trials", get_trials)
    requeue_dead_trials(study, plan, log=lambda line: pytest.fail(f"requeued a trial that ended: {line}"))
    monkeypatch.undo()
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] and not stale_trials(workdir / "study")
