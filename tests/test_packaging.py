"""The package's metadata: PEP 621 in pyproject.toml, a LICENSE that says what it declares, requirements.txt
the same pins, and the README's first screen (what it is, the two commands, a Python example that runs)."""

import re
import tomllib

import pytest
from conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_pep_621_metadata_and_a_license_file_that_matches_it():
    assert PROJECT["name"] == "tfmodels" and PROJECT["requires-python"] == ">=3.11,<3.13"
    assert PROJECT["license"] == {"text": "Apache-2.0"}
    assert "License :: OSI Approved :: Apache Software License" in PROJECT["classifiers"]
    license_text = (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert "[metadata]" not in (REPO / "setup.cfg").read_text()  # one place for the metadata


def test_requirements_txt_pins_what_the_project_declares():
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert set(PROJECT["dependencies"]) <= set(lines)
    tests = {d for d in PROJECT["optional-dependencies"]["test"] if not d.startswith(("ai-edge", "tf2onnx", "onnx",
                                                                                        "ruff"))}
    assert tests <= set(lines), tests - set(lines)


def test_the_readme_opens_with_what_it_is_the_two_commands_and_five_lines_of_python():
    readme = (REPO / "README.md").read_text()
    lines = readme.splitlines()
    assert lines[0] == "# tfmodels" and lines[3].startswith("pip install -e . && tfmodels demo")
    assert lines[4].startswith('pip install -e ".[test]" && ruff check . && pytest')
    assert "bash .ci/run" not in readme[:200] and (REPO / ".ci" / "run").read_text().count(
        'pip install -e ".[test]" && ruff check . && pytest') == 1
    intro = readme[readme.index("**tfmodels**"):readme.index("```python")]
    assert "for people who" in intro and intro.count(".") <= 4
    example = re.search(r"```python\n(.*?)```", readme, re.S)[1]
    assert len(example.strip().splitlines()) == 5


@pytest.mark.slow
def test_the_readme_python_example_runs(workdir, capsys):
    example = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)[1]
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()[-1]  # after the training's progress lines
    names, accuracy = printed.rsplit(" ", 1)
    assert names == "['0', '1', '2']" and float(accuracy) > 0.9
