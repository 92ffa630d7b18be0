"""`tfmodels launch`: N local worker processes of one multi-worker run, for trying it on one machine.

Each worker gets `TF_CONFIG` naming every worker's loopback address and its own index; worker 0
is the chief (it writes the run folder; the others train in temporary folders). The launcher
watches them: when one exits with an error, or the time limit passes, it stops the others (a
worker whose peer died would wait in a collective forever) and says which one failed and why.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tfmodels.errors import TFModelsError


class LaunchError(TFModelsError):
    exit_code = 1
    multiline = True  # it shows the end of the failed worker's output


def free_ports(n: int) -> list[int]:
    """N loopback ports free right now (the OS picks them; they stay free unless someone else binds them)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def check_ports_free(ports: list[int]) -> None:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise LaunchError(f"port {port} on 127.0.0.1 is in use; choose another --base-port "
                                  "or leave it out to pick free ports") from None


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def launch(worker_argv: list[str], workers: int, ports: list[int] | None = None, timeout: float | None = None,
           log=print, poll_seconds: float = 0.2) -> int:
    """Runs `worker_argv` in `workers` processes with TF_CONFIG set; returns 0 when all succeed.

    The chief's output goes to this process's stdout and stderr; the others' to files, whose end
    is shown when a worker fails. Raises LaunchError (after stopping every worker) on a failure.
    """
    if workers < 1:
        raise LaunchError(f"--workers must be at least 1, got {workers}")
    if ports is None:
        ports = free_ports(workers)
    else:
        check_ports_free(ports)
    logs = Path(tempfile.mkdtemp(prefix="tfmodels-launch-"))
    processes: list[subprocess.Popen] = []
    outputs = []
    log(f"launching {workers} workers on 127.0.0.1 ports {', '.join(map(str, ports))}; worker 0 is the chief; "
        f"the others' output: {logs}")
    try:
        for index in range(workers):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
            if index == 0:
                out = None
            else:
                out = open(logs / f"worker-{index}.log", "w")  # noqa: SIM115 - closed in finally
                outputs.append(out)
            processes.append(subprocess.Popen(worker_argv, env=env, stdout=out, stderr=subprocess.STDOUT if out else None))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                i = failed[0]
                raise LaunchError(f"worker {i} exited with code {codes[i]}; stopped the others."
                                  + _tail(logs / f"worker-{i}.log" if i else None))
            if all(code == 0 for code in codes):
                return 0
            if deadline is not None and time.monotonic() > deadline:
                waiting = [i for i, code in enumerate(codes) if code is None]
                raise LaunchError(f"the launch did not finish within --timeout {timeout:g} s (workers still running: "
                                  f"{', '.join(map(str, waiting))}); stopped them")
            time.sleep(poll_seconds)
    finally:
        _stop(processes)
        for out in outputs:
            out.close()


def _stop(processes: list[subprocess.Popen], grace: float = 5.0) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.is_file():
        return " Its output is above."
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f" The end of its output ({path}):\n" + "\n".join("  " + line for line in text)


def train_command(config: str, overrides: list[str], run_dir: str | None) -> list[str]:
    """The `tfmodels train` command every worker runs."""
    argv = [sys.executable, "-m", "tfmodels", "train", config, "--set", "runtime.strategy=multi_worker"]
    for override in overrides:
        argv += ["--set", override]
    if run_dir:
        argv += ["--run-dir", run_dir]
    return argv
