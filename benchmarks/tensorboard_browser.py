"""TensorBoard in a real browser: a finished run's scalars, text and images, as headless Chromium shows them.

    python -m benchmarks.tensorboard_browser [--work DIR] [--chromium /usr/bin/chromium]

Not a speed: a check run by hand (Chromium is not a dependency: Debian's `chromium` package). It trains the
digits MLP for a few epochs (`configs/mlp_digits.yaml`) and evaluates it (the confusion matrix image), starts
`tensorboard --logdir` on the run folder on a free port of this machine, and loads the Scalars, Text and
Images dashboards in headless Chromium driven by Playwright (`pip install playwright`; its own browser download
is not needed: it launches Debian's), checking that each shows our tags (TensorBoard draws inside shadow
roots, which Playwright's text search enters and Chromium's `--dump-dom` does not); then a screenshot of each
dashboard in docs/. Writes the "tensorboard" section of docs/benchmarks.md. Exit 1 when a dashboard lacks a tag.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import DOCS
from benchmarks.report import write_section

# dashboard -> the tags of ours it must show
EXPECTED = {"scalars": ["epoch_loss", "epoch_accuracy", "epoch_learning_rate"],
            "text": ["config"],
            "images": ["confusion_matrix"]}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def look(binary: str, port: int) -> tuple[dict, dict, str]:
    """({dashboard: tags shown}, {dashboard: tags missing}, the browser's version), screenshots written."""
    from playwright.sync_api import sync_playwright

    found, missing = {}, {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for dashboard, tags in EXPECTED.items():
            page.goto(f"http://127.0.0.1:{port}/#{dashboard}")
            found[dashboard], missing[dashboard] = [], []
            for tag in tags:  # in the page or in a plugin's frame (the older dashboards draw in an iframe)
                deadline = time.time() + 30
                while not any(frame.get_by_text(tag, exact=False).count() for frame in page.frames):
                    if time.time() > deadline:
                        missing[dashboard].append(tag)
                        break
                    page.wait_for_timeout(500)
                else:
                    found[dashboard].append(tag)
            page.wait_for_timeout(1000)  # the images themselves, not only their cards' titles
            page.screenshot(path=str(DOCS / f"tensorboard_{dashboard}.png"))
            print(dashboard, "shows", found[dashboard], "lacks", missing[dashboard])
        version = browser.version
        browser.close()
    return found, missing, version


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tfmodels-bench-tensorboard"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not os.path.exists(args.chromium):
        print(f"no Chromium at {args.chromium}: apt-get install chromium, or give --chromium", file=sys.stderr)
        return 2
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    run = work / "mlp_digits"
    subprocess.run([sys.executable, "-m", "tfmodels", "train", "mlp_digits", "--run-dir", str(run), "--set",
                    "trainer.epochs=5", "--set", "logging.verbose=0"], check=True)
    subprocess.run([sys.executable, "-m", "tfmodels", "evaluate", str(run)], check=True, capture_output=True)
    port = free_port()
    board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(run), "--port", str(port),
                              "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        found, missing, version = look(args.chromium, port)
    finally:
        board.terminate()
        board.wait(30)
    rows = ["| dashboard | our tags it shows | missing |", "|---|---|---|"]
    rows += [f"| {d} | {', '.join(found[d]) or '-'} | {', '.join(missing[d]) or 'none'} |" for d in EXPECTED]
    body = ("## TensorBoard in a browser (`python -m benchmarks.tensorboard_browser`)\n\n"
            f"The digits MLP (5 epochs, then `evaluate`) under `tensorboard --logdir`, each dashboard loaded in "
            f"headless Chromium {version} (Debian's), driven by Playwright:\n\n" + "\n".join(rows) +
            "\n\n" + " ".join(f"![{d}](tensorboard_{d}.png)" for d in EXPECTED))
    write_section("tensorboard", body)
    print(body)
    return 1 if any(missing.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
