"""Real data from ../shared/data (skipped when it is absent, unless TFMODELS_REQUIRE_SHARED_DATA=1)."""

from conftest import CONFIGS

from tfmodels.config import apply_overrides, load_config
from tfmodels.verbs.evaluate import evaluate_run
from tfmodels.verbs.train import train


def test_optdigits_protocol_reaches_97_percent(shared_data, workdir):
    # Train on the UCI training split (optdigits.tra), test on the UCI test split (all 1,797 `digits`).
    config = apply_overrides(load_config(CONFIGS / "mlp_optdigits.yaml"), ["logging.verbose=0"])
    result = train(config, "run")
    assert result.metrics["examples_per_second"] > 0
    name, evaluation = evaluate_run("run")
    assert name == "test" and evaluation["examples"] == 1797
    assert evaluation["accuracy"] >= 0.97, evaluation["accuracy"]
