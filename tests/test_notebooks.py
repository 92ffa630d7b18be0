"""Every notebook runs top to bottom with TFMODELS_SMOKE=1 (shrunk settings), and is committed as
`notebooks/build.py` saves it: executed, with its outputs, a Colab badge and the install cell."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("build", NOTEBOOKS[0].parent / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_a_badge_and_the_install_cell(path):
    notebook = nbformat.read(path, as_version=4)
    url = build.repository()
    assert build.badge(path.name, url) in notebook.cells[0].source  # the address from its one place
    assert build.saved_note(True) in notebook.cells[0].source or build.saved_note(False) in notebook.cells[0].source
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0].source == build.install_cell(url)
    assert all(cell.get("execution_count") for cell in code), "run python notebooks/build.py and commit the result"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))  # top to bottom, in one go
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for cell in code for o in cell.get("outputs", [])) or "colab" in path.name
    assert not any(o.get("output_type") == "error" for cell in code for o in cell.get("outputs", []))
    assert path.stat().st_size < 1_500_000  # small: smoke settings
    assert "/tmp/" not in path.read_text()  # nothing of the machine that ran it


# The Transformer notebooks (and the tagger on CoNLL-2003, the question answerer on SQuAD) take half a minute to a
# minute each: slow.
SLOW_NOTEBOOKS = ("02", "03", "04", "05", "07", "08", "09", "10")


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name[:2] in SLOW_NOTEBOOKS else p
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
    # A failing cell (the notebooks assert what they show) raises CellExecutionError here.
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    executed = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in executed)
