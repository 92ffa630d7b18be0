"""GGUF Llama files: llama.cpp's layout undone into a Hugging Face folder that keras-hub's Llama3CausalLM
loads; refusals in one line. A tiny Llama is written here with the `gguf` package's own writer; the
published SmolLM2-135M-Instruct is answered in a slow test (and measured in benchmarks/llama_chat.py)."""

import json

import numpy as np
import pytest

from tfmodels.converters.gguf_llama import gguf_to_hugging_face, read_gguf_llama, unpermute
from tfmodels.errors import ConfigError
from tfmodels.verbs.chat import llama_folder, load_chat_model

gguf = pytest.importorskip("gguf")

HIDDEN, HEADS, KV_HEADS, FFN, LAYERS = 32, 4, 2, 64, 2
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def llama_cpp_permute(weights, heads):
    """llama.cpp's convert_hf_to_gguf.py `LlamaModel.permute` (the layout its rotary kernels want)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape)


def byte_vocabulary():
    """GPT-2's byte-to-character table (what byte-level BPE vocabularies are written in) and two merges."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    tokens = SPECIALS + [chars[b] for b in range(256)] + ["he", "Ġt"]
    return tokens, ["h e", "Ġ t"]


def write_tiny_llama(path, architecture="llama", quantize_embedding=True, bad_type=False, seed=0):
    rng = np.random.default_rng(seed)
    tokens, merges = byte_vocabulary()
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(LAYERS)
    writer.add_context_length(128)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types([3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(TEMPLATE)
    hf = {}
    embedding = rng.normal(0, 0.02, (len(tokens), HIDDEN)).astype(np.float32)
    if quantize_embedding:
        q = gguf.quants.quantize(embedding, gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor("token_embd.weight", q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        embedding = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
    else:
        writer.add_tensor("token_embd.weight", embedding)
    hf["model.embed_tokens.weight"] = embedding
    head_dim = HIDDEN // HEADS
    shapes = {"attn_q": (HIDDEN, HIDDEN), "attn_k": (KV_HEADS * head_dim, HIDDEN),
              "attn_v": (KV_HEADS * head_dim, HIDDEN), "attn_output": (HIDDEN, HIDDEN), "ffn_gate": (FFN, HIDDEN),
              "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN)}
    for layer in range(LAYERS):
        for name, shape in shapes.items():
            w = rng.normal(0, 0.1, shape).astype(np.float32)  # transformers' (out, in)
            hf[f"{layer}.{name}"] = w
            stored = llama_cpp_permute(w, HEADS if name == "attn_q" else KV_HEADS) if name in ("attn_q", "attn_k") else w
            writer.add_tensor(f"blk.{layer}.{name}.weight", stored)
        for name in ("attn_norm", "ffn_norm"):
            writer.add_tensor(f"blk.{layer}.{name}.weight", np.ones(HIDDEN, np.float32))
    writer.add_tensor("output_norm.weight", np.ones(HIDDEN, np.float32))
    if bad_type:
        raw = np.zeros((1, 144), np.uint8)  # one Q4_K super-block of 256 values
        writer.add_tensor("blk.0.extra.weight", raw, raw_shape=(1, 144), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return hf


def test_llama_cpp_s_query_and_key_permutation_is_undone_exactly(tmp_path):
    w = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    np.testing.assert_array_equal(unpermute(llama_cpp_permute(w, 2), 2), w)
    assert not np.array_equal(llama_cpp_permute(w, 2), w)
    hf = write_tiny_llama(tmp_path / "tiny.gguf")
    model = read_gguf_llama(tmp_path / "tiny.gguf")
    for layer in range(LAYERS):
        np.testing.assert_array_equal(model["tensors"][f"model.layers.{layer}.self_attn.q_proj.weight"],
                                      hf[f"{layer}.attn_q"])
        np.testing.assert_array_equal(model["tensors"][f"model.layers.{layer}.self_attn.k_proj.weight"],
                                      hf[f"{layer}.attn_k"])
        np.testing.assert_array_equal(model["tensors"][f"model.layers.{layer}.mlp.down_proj.weight"],
                                      hf[f"{layer}.ffn_down"])
    np.testing.assert_allclose(model["tensors"]["model.embed_tokens.weight"], hf["model.embed_tokens.weight"])
    assert model["config"]["tie_word_embeddings"] and model["config"]["num_key_value_heads"] == KV_HEADS
    assert model["bos"] == "<|im_start|>" and model["eos"] == "<|im_end|>" and model["chat_template"] == TEMPLATE


def test_the_converted_folder_loads_into_keras_hub_and_chats_in_its_template(tmp_path):
    write_tiny_llama(tmp_path / "tiny.gguf")
    chat = load_chat_model(str(tmp_path / "tiny.gguf"))
    assert chat.render("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    backbone = chat.lm.backbone
    assert backbone.num_layers == LAYERS and backbone.num_key_value_heads == KV_HEADS
    ids = np.asarray(chat.lm.preprocessor.tokenizer("<|im_start|>he t"))
    assert ids.tolist() == [1, 259, 260]  # the special token whole, then "he" and "Ġt" merged
    answer = chat.answer(["hi"], max_new_tokens=4)
    assert isinstance(answer[0], str)
    stamp = json.loads((tmp_path / "tiny.gguf.hf" / "source.json").read_text())
    assert stamp["bytes"] == (tmp_path / "tiny.gguf").stat().st_size  # converted once, reused after


@pytest.mark.parametrize("damage, fragment", [
    ("truncated", "truncated"),
    ("not_gguf", "is not a GGUF file"),
    ("architecture", "holds a 'gpt2' model; only the Llama architecture"),
    ("quantization", "quantized as Q4_K, which this reader does not dequantize"),
])
def test_a_gguf_file_it_cannot_read_is_refused_in_one_line(tmp_path, damage, fragment):
    path = tmp_path / "bad.gguf"
    if damage == "not_gguf":
        path.write_bytes(b"PK\x03\x04 not a gguf")
    else:
        write_tiny_llama(path, architecture="gpt2" if damage == "architecture" else "llama",
                         bad_type=damage == "quantization")
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(ConfigError, match=fragment) as error:
        gguf_to_hugging_face(path, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_llama_folder_without_its_tokenizer_is_refused(tmp_path):
    write_tiny_llama(tmp_path / "tiny.gguf")
    folder = gguf_to_hugging_face(tmp_path / "tiny.gguf", tmp_path / "hf")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match="has no tokenizer.json: copy the tokenizer files"):
        llama_folder(str(folder))


@pytest.mark.slow
def test_smollm2_answers_in_its_chat_template():
    """The published SmolLM2-135M-Instruct (4-bit GGUF from the package registry; CI requires it)."""
    import os

    from tfmodels.converters.checkpoints import checkpoint_path

    try:
        checkpoint_path("registry:SmolLM2-135M-Instruct")
    except ConfigError as e:
        if os.environ.get("TFMODELS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(str(e))
        pytest.skip(str(e))
    chat = load_chat_model("registry:SmolLM2-135M-Instruct")
    answer, = chat.answer(["Name three primary colors."], max_new_tokens=24)
    assert "red" in answer.lower() and "blue" in answer.lower(), answer
