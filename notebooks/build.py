"""Puts the Colab badge and the install cell on every notebook, runs each top to bottom with shrunk settings
(TFMODELS_SMOKE=1) and saves it with its outputs, so that a reader on a code host sees the figures.

    python notebooks/build.py [--full] [NAME ...]     # all notebooks, or those named (01_mlp_digits ...)

`--full` runs them with their own settings (what a reader in Colab gets), not the shrunk ones; the first
cell says which settings the saved outputs come from.

The repository's address is in one place, `[tool.tfmodels] repository` in pyproject.toml. While it is empty
(no public address is known), the badge opens Colab itself and the install cell installs a wheel uploaded to
Colab (`pip wheel --no-deps . -w dist` builds one) or whatever TFMODELS_PIP_SOURCE names; once it is set, the
badge opens the notebook from GitHub and the install cell installs from there. `tests/test_notebooks.py`
checks that every notebook has both and was saved executed, and runs each again.
"""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
BADGE_MARK = "colab-badge.svg"
INSTALL_MARK = "# tfmodels-install"
SAVED_MARK = "*Saved outputs:"


def repository() -> str:
    """`[tool.tfmodels] repository` of pyproject.toml: https://github.com/OWNER/NAME, or "" when unknown."""
    settings = tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {}).get("tfmodels", {})
    return settings.get("repository", "").rstrip("/")


def badge(name: str, url: str) -> str:
    if url.startswith("https://github.com/"):
        target = f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/main/" \
                 f"notebooks/{name}"
        how = "Open it in Colab from the repository (the first cell installs tfmodels from there)."
    else:
        target = "https://colab.research.google.com/"
        how = ("In Colab, *File → Upload notebook* this file, and upload a tfmodels wheel beside it (`pip wheel "
               "--no-deps . -w dist` in a clone builds one): the first cell installs it.")
    return f"[![Open In Colab](https://colab.research.google.com/assets/{BADGE_MARK})]({target}) {how}"


def install_cell(url: str) -> str:
    default = f'"git+{url}.git"' if url else "None"
    return f'''{INSTALL_MARK} (in Colab only; elsewhere tfmodels is installed with `pip install -e .`)
import glob, os, subprocess, sys

if "google.colab" in sys.modules:
    wheels = sorted(glob.glob("/content/tfmodels-*.whl"))
    source = os.environ.get("TFMODELS_PIP_SOURCE") or (wheels[-1] if wheels else {default})
    if source is None:
        raise RuntimeError("upload a tfmodels wheel to /content (pip wheel --no-deps . -w dist builds one), "
                           "or set TFMODELS_PIP_SOURCE to a folder or an address pip can install from")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)'''


def saved_note(full: bool) -> str:
    settings = ("the settings below" if full else
                "shrunk settings (TFMODELS_SMOKE=1: a few steps, so the numbers are near chance)")
    return f"{SAVED_MARK} `python notebooks/build.py{' --full' if full else ''}`, with {settings}.*"


def prepare(notebook, name: str, url: str, full: bool = False) -> None:
    """The badge and the note of the saved outputs under the title; the install cell first among the code
    cells (all replaced if there)."""
    first = notebook.cells[0]
    lines = [line for line in first.source.splitlines() if BADGE_MARK not in line and SAVED_MARK not in line]
    first.source = "\n".join([lines[0], "", badge(name, url), "", saved_note(full), *lines[1:]]).rstrip()
    while "\n\n\n" in first.source:
        first.source = first.source.replace("\n\n\n", "\n\n")
    cells = [c for c in notebook.cells if not (c.cell_type == "code" and c.source.startswith(INSTALL_MARK))]
    code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    cells.insert(code, nbformat.v4.new_code_cell(install_cell(url)))
    notebook.cells = cells


def build(path: Path, url: str, full: bool = False) -> None:
    notebook = nbformat.read(path, as_version=4)
    prepare(notebook, path.name, url, full)
    with tempfile.TemporaryDirectory() as work:
        os.environ.update(TFMODELS_NOTEBOOK_DIR=work, TF_CPP_MIN_LOG_LEVEL="3")
        if full:
            os.environ.pop("TFMODELS_SMOKE", None)
        else:
            os.environ["TFMODELS_SMOKE"] = "1"
        NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": work}}).execute()
    for cell in notebook.cells:  # nothing of this machine's paths in what is committed
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = output["text"].replace(work, "<work>")
    nbformat.write(notebook, path)
    print(f"{path.name}: {sum(c.cell_type == 'code' for c in notebook.cells)} cells run, "
          f"{path.stat().st_size / 1024:.0f} KiB")


def main(argv: list[str]) -> int:
    full = "--full" in argv
    names = [a for a in argv if a != "--full"]
    url = repository()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if not names or any(path.name.startswith(n) for n in names):
            build(path, url, full)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
