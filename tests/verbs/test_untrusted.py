"""Untrusted files: no code runs from a model file unless asked; a config cannot write outside its places."""

import keras
import pytest

from tfmodels import cli
from tfmodels.config import apply_overrides, demo_config
from tfmodels.errors import ConfigError
from tfmodels.run_folder import default_run_dir
from tfmodels.verbs.train import train


def test_a_model_file_with_a_lambda_is_refused_unless_trusted(workdir, capsys):
    train(apply_overrides(demo_config(), ["trainer.epochs=1", "logging.verbose=0", "logging.histogram_freq=0"]), "run")
    # Someone replaces the run's model with one whose Lambda layer carries Python bytecode.
    carrier = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                                keras.layers.Lambda(lambda x: x * 1.0, name="code"), keras.layers.Dense(10)])
    carrier.save(workdir / "run" / "model.keras")

    code = cli.main(["evaluate", "run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert "carries code (e.g. a Lambda layer) that loading would run; it was refused" in err and "--trust-code" in err
    assert not (workdir / "run" / "confusion_matrix_test.png").exists()  # nothing was evaluated

    assert cli.main(["evaluate", "run", "--trust-code"]) == 0
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["../outside", "/etc/x", "a/b", "..", ".hidden", ""])
def test_a_config_name_cannot_point_the_run_folder_elsewhere(name):
    with pytest.raises(ConfigError, match="is not a plain folder name"):
        apply_overrides(demo_config(), [f"name={name}"])  # refused when the config is read
    config = demo_config()
    config.name = name  # or changed in code afterwards
    with pytest.raises(ConfigError, match="is not a plain folder name"):
        default_run_dir(config)


def test_a_plain_name_gives_runs_name():
    config = demo_config()
    config.name = "mlp_digits-v2.1"
    assert str(default_run_dir(config)) == "runs/mlp_digits-v2.1"
