"""`tfmodels serve` under load, on loopback: requests/s and latency with 1, 8 and 32 concurrent clients,
beside `tfmodels predict`'s function in one process.

    python -m benchmarks.serving [--work DIR] [--requests 400] [--seconds 20]

Models: the digits MLP (configs/mlp_digits.yaml) and the SST-2 encoder (configs/encoder_sst2.yaml, trained
one epoch here: serving speed depends on the architecture, not on how long it trained); a finished run in
--work is reused. Each is exported, then `python -m tfmodels serve` runs in its own process and each client
(a thread of this process, its own HTTP connection a request) sends one example a request (a digit image;
an SST-2 dev sentence) until --requests are answered or --seconds pass. In process: the export's
`predict` on one example (median of 50 calls) and on the whole input set as one call (examples/s). The
server and the clients share the machine's cores. Writes the "serving" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import default_shared_data
from benchmarks.report import write_section
from benchmarks.runner import trained_run

MODELS = {"digits": ("digits MLP", "mlp_digits.yaml", []),
          "sst2": ("SST-2 encoder", "encoder_sst2.yaml", ["trainer.epochs=1"])}
CLIENTS = (1, 8, 32)


def trained(work: Path, key: str) -> Path:
    return trained_run(MODELS[key][1], MODELS[key][2], work / key)


def examples(key: str) -> list:
    if key == "digits":
        from sklearn.datasets import load_digits

        return (load_digits().images[:200] / 16.0).tolist()
    lines = (Path(default_shared_data()) / "text_cls" / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:201]
    return [line.split("\t")[1] for line in lines]  # label, content


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, name: str, instance) -> float:
    body = json.dumps({"instances": [instance]})
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", f"/v1/models/{name}:predict", body=body)
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")
    return time.perf_counter() - start


def load(port: int, name: str, inputs: list, clients: int, requests: int, seconds: float) -> dict:
    latencies, failures, lock, deadline = [], [], threading.Lock(), time.perf_counter() + seconds

    def client(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            with lock:
                if len(latencies) >= requests:
                    return
            try:
                seconds_taken = post(port, name, inputs[i % len(inputs)])
            except (OSError, RuntimeError) as e:  # counted and shown: a failed request is part of the result
                with lock:
                    failures.append(type(e).__name__)
                continue
            with lock:
                latencies.append(seconds_taken)
            i += clients

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"requests": len(ordered), "failed": len(failures), "per_second": len(ordered) / wall,
            "p50_ms": 1000 * ordered[len(ordered) // 2], "p99_ms": 1000 * ordered[min(len(ordered) - 1,
                                                                                     int(0.99 * len(ordered)))]}


def in_process(export: Path, inputs: list) -> dict:
    import numpy as np

    import tfmodels

    model = tfmodels.load(export)
    one = inputs[:1] if isinstance(inputs[0], str) else np.asarray(inputs[:1], np.float32)
    every = inputs if isinstance(inputs[0], str) else np.asarray(inputs, np.float32)
    model.predict(one), model.predict(every)
    times = []
    for _ in range(50):
        start = time.perf_counter()
        model.predict(one)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    model.predict(every)
    return {"one_ms": 1000 * statistics.median(times), "batch_per_second": len(inputs) / (time.perf_counter() - start)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tfmodels-bench-serving"))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    work = Path(args.work)
    from tfmodels.verbs.export import export_run

    savedmodels, results = work / "savedmodels", {}
    for key in MODELS:
        run = trained(work, key)
        if not (savedmodels / key).is_dir():
            export_run(run, out=savedmodels / key / "1")
        results[key] = {"inputs": examples(key)}
        results[key]["process"] = in_process(savedmodels / key / "1", results[key]["inputs"])
        print(key, results[key]["process"], flush=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tfmodels", "serve", str(savedmodels), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while "serving on" not in (server.stdout.readline() or "serving on"):
            pass
        for key in MODELS:
            post(port, key, results[key]["inputs"][0])  # warm-up: the version loads, its graph traces
            for clients in CLIENTS:
                results[key][clients] = load(port, key, results[key]["inputs"], clients, args.requests, args.seconds)
                print(key, clients, results[key][clients], flush=True)
    finally:
        server.terminate()
        server.wait(30)
    rows = ["| model | clients | requests | failed | requests/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, (title, _, _) in MODELS.items():
        for clients in CLIENTS:
            r = results[key][clients]
            rows.append(f"| {title} | {clients} | {r['requests']} | {r['failed']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | "
                        f"{r['p99_ms']:.1f} |")
    process = ["| model | `predict`, one example (ms, median of 50) | `predict`, 200 examples in one call "
               "(examples/s) |", "|---|---:|---:|"]
    for key, (title, _, _) in MODELS.items():
        p = results[key]["process"]
        process.append(f"| {title} | {p['one_ms']:.1f} | {p['batch_per_second']:.0f} |")
    body = ("## Serving: `tfmodels serve` on loopback (`python -m benchmarks.serving`)\n\n"
            "One example a request, each client a thread of the benchmark's process with a new connection a "
            f"request, up to {args.requests} requests or {args.seconds:.0f} s a row; the server is "
            "`python -m tfmodels serve` in its own process (concurrent requests batched). The server and the "
            "clients share the 2 cores.\n\n" + "\n".join(rows) + "\n\nIn one process, beside it (the export's "
            "`predict`, as `tfmodels predict` calls it):\n\n" + "\n".join(process))
    write_section("serving", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
