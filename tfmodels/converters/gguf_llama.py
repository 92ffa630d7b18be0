"""A Llama-architecture GGUF file (llama.cpp's format) as a Hugging Face Llama folder, which keras-hub's
own converter then loads into `Llama3CausalLM` (no Llama written here).

    GGUF file                       Hugging Face folder
    llama.* metadata           ->   config.json (LlamaForCausalLM)
    token_embd, blk.N.*, ...   ->   model.safetensors (float32), names of `transformers`
    tokenizer.ggml.*           ->   tokenizer.json (byte-level BPE: vocabulary, merges, special tokens),
    tokenizer.chat_template    ->   tokenizer_config.json (bos, eos, the chat template)

Quantized tensors are dequantized with the `gguf` package (llama.cpp's own Python reader): F32, F16,
BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 are read; other types (the K-quants, IQ) are refused in one line.
llama.cpp stores the query and key projections with their rows permuted for its rotary layout
(`convert_hf_to_gguf.py: LlamaModel.permute`); `unpermute` puts them back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tfmodels.errors import ConfigError

SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
GGUF_MAGIC = b"GGUF"
LAYER_NAMES = {  # GGUF name inside blk.N -> transformers name inside model.layers.N
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
TOP_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}


def unpermute(weight: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of llama.cpp's `permute(w, n_head)`: rows (heads, 2, half) <- (heads, half, 2)."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _reader(path: Path, where: str):
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ConfigError(f"{where}: reading a GGUF file needs the `gguf` package (pip install gguf)") from None
    if not path.is_file():
        raise ConfigError(f"{where}: '{path}' does not exist")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ConfigError(f"{where}: '{path}' is not a GGUF file (it does not start with 'GGUF')")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, IndexError, OSError, KeyError) as e:
        raise ConfigError(f"{where}: '{path}' is a damaged or truncated GGUF file ({' '.join(str(e).split())[:160]})"
                          "; fetch it again") from None
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    if end > path.stat().st_size:
        raise ConfigError(f"{where}: '{path}' is truncated ({path.stat().st_size:,} bytes, its tensors need "
                          f"{end:,}); fetch it again")
    return reader


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def read_gguf_llama(path: str | os.PathLike, where: str = "init.preset") -> dict:
    """{"config", "tensors" (transformers names -> float32), "vocabulary", "merges", "bos", "eos",
    "chat_template"} of a Llama GGUF file; ConfigError with one line for what it cannot read."""
    from gguf.quants import dequantize

    path = Path(path)
    reader = _reader(path, where)
    architecture = _field(reader, "general.architecture", "")
    if architecture != "llama":
        raise ConfigError(f"{where}: '{path.name}' holds a '{architecture}' model; only the Llama architecture is "
                          "read from GGUF files here (keras-hub's Llama3CausalLM)")
    if _field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ConfigError(f"{where}: '{path.name}' has a '{_field(reader, 'tokenizer.ggml.model')}' tokenizer; only "
                          "byte-level BPE ('gpt2', as SmolLM2 and Llama 3) is read")
    unsupported = sorted({t.tensor_type.name for t in reader.tensors} - set(SUPPORTED_TYPES))
    if unsupported:
        raise ConfigError(f"{where}: '{path.name}' holds tensors quantized as {', '.join(unsupported)}, which this "
                          f"reader does not dequantize (it reads {', '.join(SUPPORTED_TYPES)}); use a Q8_0, Q4_0, "
                          "Q4_1 or F16 file")
    heads, kv_heads = _field(reader, "llama.attention.head_count"), _field(reader, "llama.attention.head_count_kv")
    tensors = {}
    for tensor in reader.tensors:
        values = np.asarray(dequantize(tensor.data, tensor.tensor_type), np.float32)
        values = values.reshape([int(n) for n in reversed(tensor.shape)])  # GGUF lists dimensions innermost first
        name = tensor.name
        if name in TOP_NAMES:
            tensors[TOP_NAMES[name]] = values
            continue
        _, layer, rest = name.split(".", 2)
        if rest not in LAYER_NAMES:
            raise ConfigError(f"{where}: '{path.name}' has a tensor '{name}' that a Llama model does not have")
        if rest == "attn_q.weight":
            values = unpermute(values, heads)
        elif rest == "attn_k.weight":
            values = unpermute(values, kv_heads)
        tensors[f"model.layers.{layer}.{LAYER_NAMES[rest]}"] = values
    tokens = [str(t) for t in _field(reader, "tokenizer.ggml.tokens")]
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": len(tokens), "num_hidden_layers": _field(reader, "llama.block_count"),
        "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "hidden_size": _field(reader, "llama.embedding_length"),
        "intermediate_size": _field(reader, "llama.feed_forward_length"),
        "rope_theta": float(_field(reader, "llama.rope.freq_base", 10000.0)),
        "rms_norm_eps": float(_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "max_position_embeddings": _field(reader, "llama.context_length"),
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "torch_dtype": "float32",
    }
    bos, eos = (_field(reader, f"tokenizer.ggml.{k}_token_id") for k in ("bos", "eos"))
    return {"config": config, "tensors": tensors, "vocabulary": tokens,
            "merges": [str(m) for m in _field(reader, "tokenizer.ggml.merges")],
            "token_types": list(_field(reader, "tokenizer.ggml.token_type", [])),
            "bos": tokens[bos], "eos": tokens[eos], "chat_template": _field(reader, "tokenizer.chat_template")}


def gguf_to_hugging_face(path: str | os.PathLike, folder: str | os.PathLike, where: str = "init.preset") -> Path:
    """Writes the Hugging Face Llama folder of a GGUF file (atomically) and returns it."""
    from safetensors.numpy import save_file

    model = read_gguf_llama(path, where)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        save_file(model["tensors"], str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(model["config"], indent=2))
        CONTROL = 3  # llama.cpp's token type of special (control) tokens
        special = [i for i, kind in enumerate(model["token_types"]) if kind == CONTROL]
        vocabulary = {token: i for i, token in enumerate(model["vocabulary"])}
        tokenizer = {"model": {"type": "BPE", "vocab": vocabulary, "merges": model["merges"]},
                     "added_tokens": [{"id": i, "content": model["vocabulary"][i], "special": True} for i in special]}
        (staging / "tokenizer.json").write_text(json.dumps(tokenizer))
        (staging / "tokenizer_config.json").write_text(json.dumps({
            "bos_token": model["bos"], "eos_token": model["eos"], "chat_template": model["chat_template"]}, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
