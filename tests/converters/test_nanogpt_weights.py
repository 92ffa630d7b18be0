"""The benchmarks' bridge to nanoGPT (benchmarks/nanogpt.py, gpt_lockstep.py): its names and layouts, its
learning-rate warm-up, its data files, and, where PyTorch and a nanoGPT checkout are at hand, its logits."""

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from benchmarks.gpt_lockstep import nanogpt_warmup, windows
from benchmarks.nanogpt import from_nanogpt, prepare_data, to_nanogpt
from tfmodels.models import GPT
from tfmodels.training.schedules import WarmupDecay


def race_gpt(seed, activation="gelu_approximate"):
    import keras

    keras.utils.set_random_seed(seed)
    model = GPT(65, 16, width=32, num_layers=2, num_heads=4, use_bias=False, activation=activation)
    model.build((None, 16))
    return model


def test_our_weights_under_nanogpts_names_and_layouts_and_back():
    model = race_gpt(1)
    state = to_nanogpt(model)
    assert state["transformer.wte.weight"].shape == (65, 32)
    assert state["transformer.wpe.weight"].shape == (16, 32)
    assert state["transformer.h.1.attn.c_attn.weight"].shape == (96, 32)  # nn.Linear: (out, in)
    assert state["transformer.h.0.mlp.c_fc.weight"].shape == (128, 32)
    assert len(state) == 2 + 2 * 6 + 1  # no biases, no lm_head (tied)
    other = race_gpt(2)
    ids = np.random.default_rng(0).integers(0, 65, (2, 16))
    assert not np.allclose(model(ids), other(ids))
    from_nanogpt(other, state)
    np.testing.assert_array_equal(np.asarray(model(ids)), np.asarray(other(ids)))


def test_weights_of_another_size_are_refused_with_the_name():
    state = to_nanogpt(race_gpt(1))
    state["transformer.h.0.mlp.c_fc.weight"] = np.zeros((64, 32), np.float32)
    with pytest.raises(ValueError, match=r"transformer.h.0.mlp.c_fc.weight: nanoGPT's \(64, 32\) does not fit"):
        from_nanogpt(race_gpt(2), state)


def test_nanogpts_warm_up_starts_at_a_step_not_at_zero():
    schedule = WarmupDecay(1e-3, 2000, 100, "cosine", minimum=1e-4)
    shifted = nanogpt_warmup(schedule)
    for it, expected in [(0, 1e-3 / 101), (99, 1e-3 * 100 / 101), (100, 1e-3), (2000, 1e-4)]:
        assert float(shifted(it)) == pytest.approx(expected, rel=1e-5)  # nanoGPT's get_lr
    assert float(schedule(0)) == 0.0  # ours (Keras's convention)
    assert float(shifted(1050)) == pytest.approx(float(schedule(1050)))


def test_lockstep_windows_are_next_character_pairs():
    stream = np.arange(1000) % 65
    data = windows(stream, steps=3, batch=4, block=8)
    assert data["x"].shape == data["y"].shape == (3, 4, 8)
    np.testing.assert_array_equal(data["y"][..., :-1], data["x"][..., 1:])
    np.testing.assert_array_equal((data["x"][..., 0] + 1) % 65, data["y"][..., 0])


def test_nanogpt_data_files_as_its_prepare_writes_them(tmp_path):
    text = tmp_path / "input.txt"
    text.write_text("hello world, hello moon\n" * 10)
    folder = prepare_data(text, tmp_path / "data")
    meta = pickle.loads((folder / "meta.pkl").read_bytes())
    chars = sorted(set(text.read_text()))
    assert meta["vocab_size"] == len(chars) and meta["itos"][0] == chars[0]
    train, val = np.fromfile(folder / "train.bin", np.uint16), np.fromfile(folder / "val.bin", np.uint16)
    assert len(train) == int(240 * 0.9) and len(train) + len(val) == 240
    assert "".join(meta["itos"][i] for i in train[:5]) == "hello"


NANOGPT = Path(os.environ.get("NANOGPT_DIR", Path(__file__).resolve().parents[3] / "nanoGPT"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or not (NANOGPT / "model.py").is_file(),
                    reason="needs PyTorch and a nanoGPT checkout ($NANOGPT_DIR), which tfmodels does not depend on")
def test_same_logits_as_nanogpts_own_model():
    import sys

    import torch

    sys.path.insert(0, str(NANOGPT))
    from model import GPT as NanoGPTModel  # nanoGPT's model.py
    from model import GPTConfig

    ours = race_gpt(3, activation="gelu")  # nanoGPT's nn.GELU() is the exact one
    theirs = NanoGPTModel(GPTConfig(block_size=16, vocab_size=65, n_layer=2, n_head=4, n_embd=32, dropout=0.0,
                                    bias=False))
    state = {k: torch.from_numpy(v) for k, v in to_nanogpt(ours).items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    theirs.load_state_dict(state, strict=False)
    ids = np.random.default_rng(1).integers(0, 65, (2, 16))
    with torch.no_grad():
        logits, _ = theirs(torch.from_numpy(ids), torch.from_numpy(ids))  # with targets: every position
    np.testing.assert_allclose(np.asarray(ours(ids)), logits.numpy(), atol=2e-5)


def test_the_gpt_activation_key_reaches_the_model():
    from tfmodels.config.schema import GPTConfig, ModelConfig
    from tfmodels.models import build_gpt

    def built(activation):
        return build_gpt(ModelConfig(type="gpt", gpt=GPTConfig(block_size=8, width=16, num_layers=1,
                                                               activation=activation)), 11)

    exact, tanh = built("gelu"), built("gelu_approximate")
    assert exact.activation == "gelu" and exact.blocks[0].activation == "gelu"
    tanh.set_weights(exact.get_weights())
    ids = np.arange(8)[None] % 11
    assert 0 < np.abs(np.asarray(exact(ids)) - np.asarray(tanh(ids))).max() < 1e-2  # two GELUs, close not equal
