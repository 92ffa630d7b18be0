"""Benchmarks: scripts that measure and write docs/benchmarks.md. Run each as a module from the
repository's root: `python -m benchmarks` (the performance suite), `python -m benchmarks.mlp_digits`,
`python -m benchmarks.text_classification`, `python -m benchmarks.pretrain_finetune`."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DOCS = REPO / "docs"


def default_shared_data() -> str:
    """`$TFMODELS_SHARED_DATA`, else the shared data folder beside the repository."""
    return os.environ.get("TFMODELS_SHARED_DATA", str(REPO.parent / "shared" / "data"))
