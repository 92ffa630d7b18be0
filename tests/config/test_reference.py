"""docs/config.md is generated from the schema: stale when a key changes without regenerating it."""

import dataclasses

from conftest import REPO

from tfmodels.config import Config
from tfmodels.config.reference import config_reference


def test_the_config_reference_is_the_one_the_schema_makes():
    assert (REPO / "docs" / "config.md").read_text() == config_reference(), (
        "docs/config.md is stale: run python -m tfmodels.config.reference > docs/config.md")


def test_every_key_of_the_schema_is_in_it():
    def keys(cls, prefix=""):
        for f in dataclasses.fields(cls):
            value = getattr(cls(), f.name)
            if dataclasses.is_dataclass(value):
                yield from keys(type(value), f"{prefix}{f.name}.")
            else:
                yield prefix + f.name

    reference = config_reference()
    every = list(keys(Config))
    assert len(every) > 100 and all(f"| `{key}` |" in reference for key in every)
    assert '| `logging.verbose` | `"auto"` \\| int | `"auto"` |' in reference
