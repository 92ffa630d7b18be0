"""`tfmodels tensorboard`: TensorBoard on the runs folder, bound to localhost, or the command to run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tfmodels.errors import RunDirError


def tensorboard_command(runs_dir: str | Path, port: int = 6006) -> list[str]:
    return [sys.executable, "-m", "tensorboard.main", "--logdir", str(runs_dir), "--host", "localhost",
            "--port", str(port)]


def start_tensorboard(runs_dir: str | Path, port: int = 6006, log=print, run=subprocess.run) -> int:
    """Runs TensorBoard in the foreground (Ctrl-C ends it); prints the command when TensorBoard is missing."""
    if not Path(runs_dir).is_dir():
        raise RunDirError(f"runs folder '{runs_dir}' does not exist; train something first, or name the folder")
    argv = tensorboard_command(runs_dir, port)
    shown = " ".join(["tensorboard", *argv[3:]])
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        log(f"TensorBoard is not installed here (pip install tensorboard); then run:\n  {shown}")
        return 1
    log(f"TensorBoard on http://localhost:{port} for {runs_dir} (Ctrl-C stops it): {shown}")
    try:
        return run(argv).returncode
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        log(f"TensorBoard could not start ({e}); run it yourself:\n  {shown}")
        return 1

