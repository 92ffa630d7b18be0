"""Instruction tuning: a causal LM trained on prompt/response pairs, each read as the template with the
prompt, then the response, then <|endoftext|>; the loss on the response tokens only (unless
`data.text.loss_on_prompt`). It is the causal LM's model, tokenizer, generation and export; what
differs is the data, the evaluation (the response tokens' cross-entropy) and the text samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfmodels.data.instruction_pipeline import instruction_dataset, instruction_examples
from tfmodels.data.lm_tokenizers import read_codec
from tfmodels.errors import DataError
from tfmodels.run_folder import RunPaths
from tfmodels.tasks.base import TaskData
from tfmodels.tasks.causal_lm import CausalLanguageModeling


@dataclass
class InstructionData(TaskData):
    examples: dict = field(default_factory=dict)  # {role: InstructionExamples (token ids, weights, cuts)}


class InstructionTuning(CausalLanguageModeling):
    def load(self) -> dict:
        if self.config.init.preset:
            self.preset()  # a preset that is not one, or a hub that cannot be reached, fails before any work
        splits = self._train_and_validation(labelled=False)  # the validation set a seeded share unless named
        for role, texts in splits.items():
            if not texts.pairs:
                raise DataError(f"data.{role} ('{texts.source}'): data.text.template asks for prompt/response "
                                "pairs: use jsonl:PATH ({\"prompt\": ..., \"response\": ...} a line) or a table "
                                "with data.text.text_column=[PROMPT, RESPONSE]")
        return splits

    def prepare(self, splits: dict, resume_from: RunPaths | None = None) -> TaskData:
        text, train = self.config.data.text, splits["train"]
        codec = self.codec(resume_from, [text.template.format(prompt=p) for p in train.texts] + train.second)
        examples = {role: self._examples(texts, codec) for role, texts in splits.items()}
        return InstructionData(splits, preprocessor=codec, train_examples=len(examples["train"]), examples=examples)

    def _examples(self, texts, codec):
        text = self.config.data.text
        return instruction_examples(texts.texts, texts.second, codec, text.template, self.config.model.gpt.block_size,
                                    text.loss_on_prompt)

    def datasets(self, data: TaskData, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):
        t, examples = self.config.trainer, data.examples
        train = instruction_dataset(examples["train"], global_batch, seed, training=True,
                                    first_step=first_epoch * t.eval_interval,
                                    steps=(epochs - first_epoch) * t.eval_interval)
        return train, {"validation": instruction_dataset(examples["validation"], global_batch, seed, training=False)}

    def sample_prompt(self, data: TaskData) -> list[int]:
        """The first validation prompt, in the template."""
        first = data.splits["validation"].texts[0]
        return [int(i) for i in data.preprocessor.encode(self.config.data.text.template.format(prompt=first))]

    def evaluation_dataset(self, paths: RunPaths, info: dict, data_spec: str | None, split: str | None):
        """The response tokens' cross-entropy over the validation pairs (or `data_spec`'s)."""
        if data_spec:
            name, texts = split or "data", self._load(data_spec, split or "test", labelled=False)
        else:
            name = split or "validation"
            splits = self.load()
            if name not in splits:
                raise DataError(f"this run has no '{name}' set (its splits: {', '.join(splits)})")
            texts = splits[name]
        examples = self._examples(texts, read_codec(paths.root))
        return (instruction_dataset(examples, 64, 0, training=False), name, texts.source,
                int(examples.response_weight.sum()) + 1)

    def data_info(self, data: TaskData) -> dict:
        examples = data.examples
        info = self._data_info(data, {role: len(e) for role, e in examples.items()})
        info["instructions"] = {"template": self.config.data.text.template,
                                "loss_on_prompt": self.config.data.text.loss_on_prompt,
                                "response_tokens": {role: int(e.response_weight.sum()) for role, e in examples.items()},
                                "cut_prompts": {role: e.cut_prompts for role, e in examples.items()},
                                "cut_responses": {role: e.cut_responses for role, e in examples.items()}}
        return info
