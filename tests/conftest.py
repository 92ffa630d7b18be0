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


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Runs the test in an empty folder, so that runs/ and savedmodels/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
