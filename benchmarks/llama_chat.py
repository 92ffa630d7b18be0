"""SmolLM2-135M-Instruct (a Llama-architecture chat model, 4-bit GGUF from the package registry), measured.

    python -m benchmarks.llama_chat [--max-new-tokens 48]

The GGUF file is converted once into a Hugging Face folder (converters/gguf_llama.py) and loaded into
keras-hub's `Llama3CausalLM`; prompts are rendered with the file's chat template (tfmodels/verbs/chat.py).
Reports: the greedy answers to five fixed prompts; `generate` tokens/s at batch 1 and 8 (the second
call of each, so compilation is left out); the next-token loss on a fixed English text in float32
and after Keras's int8 quantization, with the size of the weights; the peak resident memory.
Writes the "llama-chat" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.report import write_section

PROMPTS = ["What is the capital of France?", "Name three primary colors.", "What is 12 plus 30?",
           "Write one sentence about the sea.", "Translate 'thank you' into Spanish."]
TEXT = ("The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889 for the "
        "World's Fair. Paris is also home to the Louvre, the largest art museum in the world. The river Seine "
        "flows through the city, and its banks are lined with bookstalls.")


def next_token_loss(lm, text: str) -> float:
    import keras
    import numpy as np

    ids = np.array([lm.preprocessor.tokenizer(text)], "int32")
    logits = lm({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ids[:, 1:], logits[:, :-1])
    return float(loss)


def weight_bytes(model) -> int:
    import keras

    return int(sum(keras.ops.convert_to_numpy(v).nbytes for v in model.weights))


def tokens_per_second(chat, batch: int, new_tokens: int) -> float:
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
    texts = [chat.render(p) for p in prompts]
    length = max(len(chat.lm.preprocessor.tokenizer(t)) for t in texts) + new_tokens
    chat.lm.preprocessor.sequence_length = length
    chat.lm.generate(texts, max_length=length)  # compiles
    started = time.perf_counter()
    chat.lm.generate(texts, max_length=length)
    return batch * new_tokens / (time.perf_counter() - started)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    from tfmodels.verbs.chat import load_chat_model

    started = time.perf_counter()
    chat = load_chat_model("registry:SmolLM2-135M-Instruct")
    load_seconds = time.perf_counter() - started
    answers = chat.answer(PROMPTS, args.max_new_tokens)
    for prompt, answer in zip(PROMPTS, answers):
        print(f"> {prompt}\n{answer}\n", flush=True)
    speed = {batch: tokens_per_second(chat, batch, args.max_new_tokens) for batch in (1, 8)}
    print("tokens/s", speed, flush=True)
    loss = next_token_loss(chat.lm, TEXT)
    size = weight_bytes(chat.lm)
    peak_float = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    chat.lm.quantize("int8")
    loss_int8 = next_token_loss(chat.lm, TEXT)
    size_int8 = weight_bytes(chat.lm)
    answers_int8 = chat.answer(PROMPTS[:2], args.max_new_tokens)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    lines = ["## SmolLM2-135M-Instruct (Llama, 4-bit GGUF) through keras-hub's Llama3CausalLM", "",
             "`python -m benchmarks.llama_chat`: `registry:SmolLM2-135M-Instruct` (the GGUF file from the package "
             "registry, dequantized and converted once to a Hugging Face folder, loaded with keras-hub's own "
             f"converter in {load_seconds:.0f} s including the first conversion when there was one); prompts in the "
             "file's chat template (its default system prompt included); greedy decoding.", "",
             "| prompt | greedy answer (float32) |", "|---|---|",
             *[f"| {p} | {a[:160].replace(chr(10), ' ').replace('|', '/')} |" for p, a in zip(PROMPTS, answers)], "",
             "| measure | value |", "|---|---|",
             f"| generate tokens/s, batch 1 ({args.max_new_tokens} new tokens, keras-hub's compiled loop) | "
             f"{speed[1]:.1f} |",
             f"| generate tokens/s, batch 8 | {speed[8]:.1f} |",
             f"| next-token loss on a fixed English paragraph, float32 | {loss:.4f} |",
             f"| the same after `quantize(\"int8\")` | {loss_int8:.4f} |",
             f"| weights, float32 / int8 | {size / 2**20:.0f} MiB / {size_int8 / 2**20:.0f} MiB |",
             f"| peak resident memory: float32 / after int8 (process) | {peak_float:.2f} GiB / {peak:.2f} GiB |", "",
             "int8 answers: " + " / ".join(a[:100].replace("\n", " ") for a in answers_int8)]
    body = "\n".join(lines)
    print(body)
    write_section("llama-chat", body)


if __name__ == "__main__":
    main()
