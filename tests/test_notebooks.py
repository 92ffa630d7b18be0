"""Every notebook runs top to bottom with TFMODELS_SMOKE=1 (shrunk settings)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


# The Transformer notebooks take half a minute to a minute each: slow.
@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name[:2] in ("02", "03", "04", "05") else p
                                  for p in NOTEBOOKS], ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, monkeypatch, request):
    if "TFMODELS_SHARED_DATA" in path.read_text():
        # Notebooks that read the real data get its folder (and fail under CI when it is absent);
        # the kernel runs in tmp_path, where no relative default can find it.
        request.getfixturevalue("shared_data")
    monkeypatch.setenv("TFMODELS_SMOKE", "1")
    monkeypatch.setenv("TFMODELS_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit notebooks without outputs"
    # A failing cell (the notebooks assert what they show) raises CellExecutionError here.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    executed = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in executed)
