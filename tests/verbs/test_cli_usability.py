"""What a new user tries first on the command line: a shipped config by name, --debug anywhere, and files
written with the user's umask (issue 37's defects, the first of them)."""

import os
import stat
from pathlib import Path

import pytest

from tfmodels import cli
from tfmodels.config import load_config, shipped_config
from tfmodels.errors import ConfigError
from tfmodels.files import atomic_write_json, make_staging_dir


def test_a_shipped_config_by_name_and_a_name_that_is_none(workdir):
    assert load_config("mlp_digits") == shipped_config("mlp_digits")
    with pytest.raises(ConfigError, match="config 'mlp_digts' is neither a file nor a shipped config; .*mlp_digits"):
        load_config("mlp_digts")
    with pytest.raises(ConfigError, match="config file 'nope.yaml' does not exist"):
        load_config("nope.yaml")
    (workdir / "mlp_digits").write_text("name: mine\n")  # a file of that name here wins
    assert load_config("mlp_digits").name == "mine"


def test_debug_anywhere_on_the_line(workdir, capsys):
    code = cli.main(["train", "mlp_digts", "--debug"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "neither a file nor a shipped config" in err
    code = cli.main(["train", "mlp_digts"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_and_folders_get_the_users_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "metrics.json", {"a": 1})
        folder = make_staging_dir(tmp_path / "export", ".tmp-export-")
        with open(tmp_path / "plain.txt", "w") as f:  # what any other file of the user gets
            f.write("x")
        os.mkdir(tmp_path / "plain")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "metrics.json") == mode(tmp_path / "plain.txt") == 0o666 & ~mask
    assert mode(folder) == mode(tmp_path / "plain") == 0o777 & ~mask


def test_the_program_exits_with_mains_code_without_the_last_garbage_collection(monkeypatch):
    """`tfmodels` and `python -m tfmodels` run `cli.run`: main's exit code, the garbage collector frozen
    first (TensorFlow's objects cost the interpreter's last collection ~1 s an exit)."""
    import gc
    import tomllib

    frozen = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    with pytest.raises(SystemExit) as exit:
        cli.run()
    assert exit.value.code == 3 and frozen == [True]
    repo = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"tfmodels": "tfmodels.cli:run"}
    assert "run()" in (repo / "tfmodels" / "__main__.py").read_text()
