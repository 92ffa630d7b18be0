"""Causal language modelling: predict every next token of a corpus (instruction tuning, the same
model on prompt/response pairs, is `instruction_tuning.py`).

The corpus becomes one stream of token ids (characters or byte-level BPE: `lm_tokenizers`), split into a
training and a validation part by a contiguous fraction (nanoGPT's 90/10) unless `data.validation`
names its own text. Training draws windows at random offsets from (seed, step); training is counted
in steps (`trainer.max_steps`), evaluated every `trainer.eval_interval` steps on
`trainer.eval_batches` fixed batches. The loss is the mean cross-entropy per predicted token, so
exp(loss) is the perplexity and loss / ln 2 the bits per character.

After training: `evaluate` reads a whole corpus once (`corpus_dataset`), `export` writes a
SavedModel whose `generate` signature continues a prompt string (`generate_in_blocks`) and whose
`serving_default` returns the logits of token ids. Fine-tuning from another causal LM's run
(`init.from_run`) keeps its tokenizer; `trainer.finetune=lora` adapts it with LoRA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tfmodels.converters.keras_hub_gpt2 import from_gpt2_backbone, to_gpt2_backbone
from tfmodels.converters.presets import load_backbone, preset_codec
from tfmodels.data.lm_pipeline import check_length, corpus_dataset, lm_dataset, split_stream
from tfmodels.data.lm_tokenizers import BytePairCodec, learn_codec, read_codec
from tfmodels.data.streams import CorpusStream, lm_windows
from tfmodels.data.text import held_out_texts, load_text
from tfmodels.data.tokenizers import sample_texts
from tfmodels.decoding.generation import generate_in_blocks, text_sampler
from tfmodels.errors import ConfigError, DataError, ExportError
from tfmodels.models import build_gpt
from tfmodels.run_folder import RunPaths
from tfmodels.saving import load_keras_model
from tfmodels.tasks.base import Serving, TaskData
from tfmodels.tasks.language_model import LanguageModelTask
from tfmodels.tasks.text_task import TextTask
from tfmodels.training.summaries import TextSamples, TokensPerSecond
from tfmodels.transforms.lora import enable_lora, merged_copy


@dataclass
class CorpusData(TaskData):
    streams: dict = field(default_factory=dict)  # {role: one stream of token ids (N,)}; a streamed corpus: none
    stream: CorpusStream | None = None  # the training corpus, when read as a stream (data/streams.py)


class CausalLanguageModeling(TextTask, LanguageModelTask):
    input_name = "token_ids"
    export_kind = "causal_lm"

    def load(self) -> dict:
        data = self.config.data
        if self.config.init.preset:
            self.preset()  # a preset that is not one, or a hub that cannot be reached, fails before any work
        splits = {"train": self._load(data.train, "train", labelled=False)}
        if data.validation:
            splits["validation"] = self._load(data.validation, "validation", labelled=False)
        elif isinstance(splits["train"], CorpusStream):  # its last file held out
            try:
                splits["train"], splits["validation"] = held_out_texts(splits["train"])
            except DataError as e:
                raise DataError(f"data.train: {e}") from None
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        stream = splits["train"] if isinstance(splits["train"], CorpusStream) else None
        if stream is not None and self.config.data.tokenizer.kind == "character" and not self.config.init.from_run \
                and resume_from is None:
            raise DataError(f"data.train ('{stream.source}') is streamed, so its characters are not all known before "
                            "training; use data.tokenizer.kind=bpe (bytes: nothing is unknown)")
        codec = self.codec(resume_from, self.vocabulary_texts(splits["train"]).texts)
        streams = {role: codec.stream(texts.texts, where=f"data.{role} ('{texts.source}')")
                   for role, texts in splits.items() if texts is not stream}
        if stream is not None:
            check_length(streams["validation"], self.config.model.gpt.block_size, "validation")
            return CorpusData(splits, preprocessor=codec, train_examples=0, streams=streams, stream=stream)
        if "validation" not in streams:  # the contiguous tail of the training text
            streams["train"], streams["validation"] = split_stream(streams["train"], self.config.data.validation_fraction)
        block = self.config.model.gpt.block_size
        for role, stream in streams.items():
            try:
                check_length(stream, block, role)
            except DataError as e:
                raise DataError(f"data.{role}: {e}") from None
        return CorpusData(splits, preprocessor=codec, train_examples=len(streams["train"]), streams=streams)

    def codec(self, resume_from: RunPaths | None, texts: list[str]):
        """The resumed run's tokenizer, else the pretrained run's (`init.from_run`), else learnt from
        the training text: every character of it, or BPE merges from at most
        `data.tokenizer.vocabulary_sample` of its documents (a character missed by a sample would
        make the rest of the text unreadable)."""
        for paths in (resume_from, RunPaths(self.config.init.from_run) if self.config.init.from_run else None):
            if paths is not None and (codec := read_codec(paths.root)) is not None:
                return codec
        if self.config.init.preset:  # a GPT-2 preset's own byte-level BPE
            return preset_codec(self.preset())
        t = self.config.data.tokenizer
        if t.kind == "bpe":  # bytes: a sample cannot miss a token the rest of the text needs
            texts = sample_texts(texts, t.vocabulary_sample, self.config.runtime.seed)
        return learn_codec(t.kind, texts, t.vocabulary_size)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        t = self.config.trainer
        block, streams = self.config.model.gpt.block_size, data.streams
        if data.stream is not None:
            train = lm_windows(data.stream, data.preprocessor.tf_encode, data.preprocessor.end_of_text, block, seed,
                               global_batch, first_epoch * t.eval_interval, (epochs - first_epoch) * t.eval_interval,
                               self.config.data.shuffle_buffer)
        else:
            train = lm_dataset(streams["train"], block, global_batch, seed, first_step=first_epoch * t.eval_interval,
                               steps=(epochs - first_epoch) * t.eval_interval)
        validation = lm_dataset(streams["validation"], block, global_batch, seed, training=False,
                                num_batches=t.eval_batches)
        return train, {"validation": validation}

    def build_model(self, data: TaskData):
        if self.config.init.preset:  # a published GPT-2 (keras-hub preset or Hugging Face folder) as our GPT
            backbone = load_backbone(self.preset(), data.preprocessor.vocabulary_size)
            if not isinstance(backbone, keras_hub.models.GPT2Backbone):
                raise ConfigError(f"init.preset: '{self.config.init.preset}' holds a {type(backbone).__name__}; a causal "
                                  "LM starts from GPT-2 presets (GPT2Backbone) here")
            try:
                return from_gpt2_backbone(backbone, self.config.model.gpt.block_size,
                                          dropout=self.config.model.gpt.dropout, name="gpt")
            except ValueError as e:
                raise ConfigError(f"init.preset: {e}; lower model.gpt.block_size") from None
        return build_gpt(self.config.model, data.preprocessor.vocabulary_size)

    def compile_args(self) -> dict:
        """Cross-entropy per predicted token: training windows have no padding (every position is a
        target); `evaluate`'s last window has padding of weight 0, which the loss and the weighted
        metrics leave out. `perplexity` (keras-hub's) is exp of the epoch's mean, over all its tokens."""
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                                     keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")]}

    def configure_training(self, model) -> None:
        t = self.config.trainer
        if t.finetune == "lora":
            enable_lora(model, t.lora_rank, t.lora_alpha, t.lora_targets)

    def model_for_saving(self, model):
        return merged_copy(model) if self.config.trainer.finetune == "lora" else model

    def callbacks(self, model, data: TaskData, global_batch: int, log_dir=None) -> list:
        callbacks = [TokensPerSecond(self.config.model.gpt.block_size)]
        n, length = self.config.logging.text_samples, self.config.logging.sample_tokens
        if n and log_dir is not None:
            codec, prompt = data.preprocessor, self.sample_prompt(data)
            seed = self.config.runtime.seed
            # Sampled at temperature 0.8 (nanoGPT's sample.py), sliding through the block as `generate`.
            continue_prompt = text_sampler(model, self.config.model.gpt.block_size, temperature=0.8)

            def sample() -> list[str]:
                return [codec.decode(prompt) + codec.decode(continue_prompt(prompt, length, seed + i)) for i in range(n)]

            callbacks.append(TextSamples(sample, log_dir))
        return callbacks

    def sample_prompt(self, data: TaskData) -> list[int]:
        """What the text samples in TensorBoard continue: the validation text's first token."""
        return [int(i) for i in data.streams["validation"][:1]]

    # --- after training: evaluation and serving --------------------------------------------------

    def language_model_result(self, values: dict, sequences: int, tokens: int, paths: RunPaths) -> dict:
        # Keras's `loss` is a mean of batch means; the corpus's mean per token is ln(perplexity).
        loss = float(np.log(values["perplexity"]))
        return {"kind": "causal_lm", "tokens": sequences, "predicted_tokens": tokens, "loss": loss,
                "perplexity": float(values["perplexity"]), "accuracy": float(values["accuracy"]),
                **({"bits_per_character": loss / float(np.log(2))} if paths.characters.is_file() else {})}

    def generation(self, paths: RunPaths) -> Generating:
        return Generating(read_codec(paths.root), self.config.model.gpt.block_size, self.config.data.text.template)

    def gptq_calibration(self, paths: RunPaths, info: dict, limit: int):
        return self.model_inputs(paths, info, split="train", limit=limit)

    def keras_hub_preset(self, paths: RunPaths):
        """A GPT2Backbone with its GPT2Tokenizer: GPT-2's shape (converters/keras_hub_gpt2.py) and byte-level BPE."""
        codec = read_codec(paths.root)
        if not isinstance(codec, BytePairCodec):
            raise ExportError(f"run '{paths.root}' reads {codec.kind if codec else 'no'} tokens; a GPT-2 preset needs "
                              "byte-level BPE (data.tokenizer.kind=bpe)")
        try:
            backbone = to_gpt2_backbone(load_keras_model(paths.model))
        except ValueError as e:
            raise ExportError(f"run '{paths.root}': {e}") from None
        return backbone, keras_hub.models.GPT2Tokenizer(vocabulary=codec.vocabulary, merges=codec.merges)

    def evaluation_dataset(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(every next-token prediction of a corpus once, name, source, tokens): `data_spec` (any text),
        else the run's own validation text, whole (not the sampled batches of training)."""
        codec = read_codec(paths.root)
        block = self.config.model.gpt.block_size
        if data_spec:
            name = split or "data"
            texts = load_text(data_spec, split or "test", self.config.data.text, labelled=False)
            stream, source = codec.stream(texts.texts, where=f"'{texts.source}'"), texts.source
        else:
            name = split or "validation"
            if name not in ("train", "validation"):
                raise DataError(f"a causal LM run has train and validation text, not '{name}'; pass --split "
                                "train or validation, or --data SPEC")
            data = self.prepare(self.load(), paths)
            if name not in data.streams:
                raise DataError(f"this run's {name} text is streamed ('{data.stream.source}'), too large to evaluate "
                                "whole; give --data with a part of it")
            stream, source = data.streams[name], data.splits.get(name, data.splits["train"]).source
        try:
            dataset = corpus_dataset(stream, block, 64)
        except DataError as e:
            raise DataError(f"evaluation data '{source}': {e}") from None
        return dataset, name, source, len(stream)

    def serving(self, model, paths: RunPaths, info: dict) -> Serving:
        """`serving_default`: token ids (B, T <= block) -> next-token logits (B, T, V). `generate`:
        a prompt string, the number of new tokens, a temperature (0: greedy) and a seed -> the
        generated text, and how many prompt tokens the model saw (`prompt_characters_seen` for a
        character model; a prompt longer than the block is cut from its start). The run's tokenizer
        is inside the graph (a BPE one is keras-hub's: `import tensorflow_text` before loading)."""
        codec = read_codec(paths.root)
        block = self.config.model.gpt.block_size
        unit = "character" if codec.kind == "character" else "token"

        def logits(token_ids):
            return {"logits": model(token_ids, training=False)}

        def generate(prompt, max_new_tokens, temperature, seed):
            ids = codec.tf_encode(prompt)  # (L,)
            checks = [
                tf.debugging.assert_greater(tf.size(ids), 0, message=f"the prompt is empty; give at least one {unit}"),
                tf.debugging.assert_non_negative(ids, message="the prompt has characters outside the model vocabulary"),
                tf.debugging.assert_greater(max_new_tokens, 0, message="max_new_tokens must be at least 1"),
                tf.debugging.assert_non_negative(temperature, message="temperature must be 0 (greedy) or above"),
            ]
            with tf.control_dependencies(checks):
                new, seen = generate_in_blocks(model, ids, max_new_tokens, block, temperature, seed)
            return {"text": codec.tf_decode(new), f"prompt_{unit}s_seen": seen}

        return Serving(None, tf.TensorSpec((None, None), tf.int32, name="token_ids"), codec.graph_resources(),
                       features=logits, feature_shapes={"logits": ["batch", "time", codec.vocabulary_size]},
                       signatures={"generate": (generate, [tf.TensorSpec((), tf.string, name="prompt"),
                                                           tf.TensorSpec((), tf.int32, name="max_new_tokens"),
                                                           tf.TensorSpec((), tf.float32, name="temperature"),
                                                           tf.TensorSpec((), tf.int32, name="seed")])})

    def save_assets(self, data: TaskData, paths: RunPaths, model=None) -> None:
        data.preprocessor.save(paths.root)

    def data_info(self, data: TaskData) -> dict:
        info = self._data_info(data, {role: int(len(s)) for role, s in data.streams.items()})
        if data.stream is not None:
            info["streamed"] = {"train": data.stream.describe()}
        return info

    def _data_info(self, data: TaskData, examples: dict) -> dict:
        return {
            "task": "causal_lm",
            "input": {"name": self.input_name, "shape": [self.config.model.gpt.block_size], "dtype": "int32"},
            "token_ids": {"block_size": self.config.model.gpt.block_size, "tokenizer": data.preprocessor.kind,
                          "vocabulary_size": data.preprocessor.vocabulary_size},
            "examples": examples,  # tokens of each part (instruction tuning: pairs)
            "sources": {role: texts.source for role, texts in data.splits.items()},
            "chance_loss": math.log(data.preprocessor.vocabulary_size),
        }


@dataclass
class Generating:
    """What `generate` needs of a causal LM's run."""

    codec: object  # the run's tokenizer (lm_tokenizers: characters or byte-level BPE)
    block_size: int  # the most tokens the model sees
    template: str | None  # instruction tuning's prompt template (None: plain continuation)
