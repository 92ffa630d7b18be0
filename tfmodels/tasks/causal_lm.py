"""Causal language modelling (model.type=gpt): predict every next token of a corpus.

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

import keras
import keras_hub
import tensorflow as tf

from tfmodels.data.instruction_pipeline import instruction_dataset, instruction_examples
from tfmodels.data.lm_pipeline import check_length, corpus_dataset, lm_dataset, split_stream
from tfmodels.data.lm_tokenizers import learn_codec, read_codec
from tfmodels.data.presets import load_backbone, preset_codec
from tfmodels.data.text import load_text
from tfmodels.data.tokenizers import sample_texts
from tfmodels.errors import ConfigError, DataError
from tfmodels.models import GPT
from tfmodels.models.generation import generate_in_blocks
from tfmodels.models.keras_hub_gpt2 import from_gpt2_backbone
from tfmodels.models.lora import enable_lora, merged_copy
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import Serving, TaskData
from tfmodels.tasks.text_task import TextTask
from tfmodels.training.summaries import TextSamples, TokensPerSecond


class CausalLanguageModeling(TextTask):
    input_name = "token_ids"
    evaluation_kind = "language_model"

    @property
    def instruction(self) -> bool:
        """Instruction tuning: prompt/response pairs in a template (`data.text.template`)."""
        return self.config.data.text.template is not None

    def load(self) -> dict:
        data = self.config.data
        if self.config.init.preset:
            self.preset()  # a preset that is not one, or a hub that cannot be reached, fails before any work
        if self.instruction:  # pairs: the validation set a seeded share of them unless named
            splits = self._train_and_validation(labelled=False)
            for role, texts in splits.items():
                if not texts.pairs:
                    raise DataError(f"data.{role} ('{texts.source}'): data.text.template asks for prompt/response "
                                    "pairs: use jsonl:PATH ({\"prompt\": ..., \"response\": ...} a line) or a table "
                                    "with data.text.text_column=[PROMPT, RESPONSE]")
            return splits
        splits = {"train": self._load(data.train, "train", labelled=False)}
        if data.validation:
            splits["validation"] = self._load(data.validation, "validation", labelled=False)
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        if self.instruction:
            return self._prepare_instructions(splits, resume_from)
        codec = self.codec(resume_from, splits["train"].texts)
        streams = {role: codec.stream(texts.texts, where=f"data.{role} ('{texts.source}')")
                   for role, texts in splits.items()}
        if "validation" not in streams:  # the contiguous tail of the training text
            streams["train"], streams["validation"] = split_stream(streams["train"], self.config.data.validation_fraction)
        block = self.config.model.gpt.block_size
        for role, stream in streams.items():
            try:
                check_length(stream, block, role)
            except DataError as e:
                raise DataError(f"data.{role}: {e}") from None
        return TaskData(splits, preprocessor=codec, train_examples=len(streams["train"]), extra={"streams": streams})

    def _prepare_instructions(self, splits: dict, resume_from: RunPaths | None) -> TaskData:
        text, block = self.config.data.text, self.config.model.gpt.block_size
        train = splits["train"]
        codec = self.codec(resume_from, [text.template.format(prompt=p) for p in train.texts] + train.second)
        examples = {role: instruction_examples(texts.texts, texts.second, codec, text.template, block,
                                               text.loss_on_prompt) for role, texts in splits.items()}
        return TaskData(splits, preprocessor=codec, train_examples=len(examples["train"]),
                        extra={"instructions": examples})

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
        if self.instruction:
            examples = data.extra["instructions"]
            train = instruction_dataset(examples["train"], global_batch, seed, training=True,
                                        first_step=first_epoch * t.eval_interval,
                                        steps=(epochs - first_epoch) * t.eval_interval)
            return train, {"validation": instruction_dataset(examples["validation"], global_batch, seed, training=False)}
        block, streams = self.config.model.gpt.block_size, data.extra["streams"]
        train = lm_dataset(streams["train"], block, global_batch, seed, first_step=first_epoch * t.eval_interval,
                           steps=(epochs - first_epoch) * t.eval_interval)
        validation = lm_dataset(streams["validation"], block, global_batch, seed, training=False,
                                num_batches=t.eval_batches)
        return train, {"validation": validation}

    def build_model(self, data: TaskData):
        g = self.config.model.gpt
        if self.config.init.preset:  # a published GPT-2 (keras-hub preset or Hugging Face folder) as our GPT
            backbone = load_backbone(self.preset(), data.preprocessor.vocabulary_size)
            if not isinstance(backbone, keras_hub.models.GPT2Backbone):
                raise ConfigError(f"init.preset: '{self.config.init.preset}' holds a {type(backbone).__name__}; a causal "
                                  "LM starts from GPT-2 presets (GPT2Backbone) here")
            try:
                return from_gpt2_backbone(backbone, g.block_size, dropout=g.dropout, name="gpt")
            except ValueError as e:
                raise ConfigError(f"init.preset: {e}; lower model.gpt.block_size") from None
        model = GPT(data.preprocessor.vocabulary_size, g.block_size, width=g.width, num_layers=g.num_layers,
                    num_heads=g.num_heads, ffn_dim=g.ffn_dim, dropout=g.dropout, use_bias=g.bias,
                    tie_weights=g.tie_weights, name="gpt")
        model.build((None, g.block_size))
        return model

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
            codec = data.preprocessor
            if self.instruction:  # the first validation prompt, in the template
                first = data.splits["validation"].texts[0]
                prompt = tf.constant(codec.encode(self.config.data.text.template.format(prompt=first)), tf.int32)
            else:
                prompt = tf.constant(data.extra["streams"]["validation"][:1], tf.int32)  # its first character
            block, seed = self.config.model.gpt.block_size, self.config.runtime.seed
            # Sampled at temperature 0.8 (nanoGPT's sample.py), sliding through the block as `generate`.
            continue_prompt = tf.function(lambda sample_seed: generate_in_blocks(
                model, prompt, tf.constant(length), block, tf.constant(0.8), sample_seed)[0])

            def sample() -> list[str]:
                return [codec.decode(prompt.numpy()) + codec.decode(continue_prompt(tf.constant(seed + i)).numpy())
                        for i in range(n)]

            callbacks.append(TextSamples(sample, log_dir))
        return callbacks

    # --- after training: evaluation and serving --------------------------------------------------

    def evaluation_dataset(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """(every next-token prediction of a corpus once, name, source, tokens): `data_spec` (any text),
        else the run's own validation text, whole (not the sampled batches of training)."""
        codec = read_codec(paths.root)
        block = self.config.model.gpt.block_size
        if self.instruction:  # the response tokens' cross-entropy, over the validation pairs (or --data's)
            text = self.config.data.text
            if data_spec:
                name, texts = split or "data", self._load(data_spec, split or "test", labelled=False)
            else:
                name = split or "validation"
                splits = self.load()
                if name not in splits:
                    raise DataError(f"this run has no '{name}' set (its splits: {', '.join(splits)})")
                texts = splits[name]
            examples = instruction_examples(texts.texts, texts.second, codec, text.template, block, text.loss_on_prompt)
            return (instruction_dataset(examples, 64, 0, training=False), name, texts.source,
                    int(examples.response_weight.sum()) + 1)
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
            stream, source = data.extra["streams"][name], data.splits.get(name, data.splits["train"]).source
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
        if self.instruction:
            examples = data.extra["instructions"]
            info = self._data_info(data, {role: len(e) for role, e in examples.items()})
            info["instructions"] = {"template": self.config.data.text.template,
                                    "loss_on_prompt": self.config.data.text.loss_on_prompt,
                                    "response_tokens": {role: int(e.response_weight.sum()) for role, e in examples.items()},
                                    "cut_prompts": {role: e.cut_prompts for role, e in examples.items()},
                                    "cut_responses": {role: e.cut_responses for role, e in examples.items()}}
            return info
        return self._data_info(data, {role: int(len(s)) for role, s in data.extra["streams"].items()})

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
