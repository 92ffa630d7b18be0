"""`tfmodels translate`: an encoder-decoder's outputs for raw sources, from a run folder or its export
(`tfmodels.load(path).translate(sources)`, which the command calls).

    tfmodels translate RUN_OR_EXPORT "Ein Mann fährt Fahrrad."        one source, or a file of one a line
        [--beam-size N] [--output FILE.jsonl]

Both paths call the same graph: the run's task builds it (`tasks/seq2seq.py: graph_translate`), the
export holds it as its `translate` signature; tokenization, beam search and detokenization run
inside. A source longer than the model's positions is refused here (the SavedModel itself cuts it
and says so in `source_cut`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError

BATCH = 32


@dataclass
class Translations:
    """Each source's output text and its log-probability."""

    sources: list[str]
    outputs: list[str]
    scores: np.ndarray
    beam_size: int

    def records(self) -> list[dict]:
        return [{"source": s, "output": o, "score": float(p)} for s, o, p in zip(self.sources, self.outputs, self.scores)]

    def __len__(self) -> int:
        return len(self.sources)

    def write_jsonl(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for record in self.records():
                f.write(json.dumps(record, ensure_ascii=False) + "\n")


class TranslateModel:
    """A `translate(source, beam_size)` function (a run's graph or an export's signature), checked inputs."""

    def __init__(self, fn, max_source_tokens: int, default_beam: int):
        self.fn, self.max_source_tokens, self.default_beam = fn, max_source_tokens, default_beam

    @classmethod
    def of_export(cls, loaded, info: dict) -> "TranslateModel":
        signature = loaded.signatures["translate"]
        return cls(lambda source, beam_size: signature(source=source, beam_size=beam_size),
                   info["max_source_tokens"], info["beam_size"])

    def __call__(self, sources, beam_size: int | None = None, batch_size: int = BATCH) -> Translations:
        sources = [sources] if isinstance(sources, str) else list(sources)
        if not sources or not all(isinstance(s, str) and s.strip() for s in sources):
            raise DataError("give a non-empty list of non-empty source texts")
        beam = self.default_beam if beam_size is None else int(beam_size)
        if beam < 1:
            raise DataError(f"beam size must be at least 1 (1 is greedy decoding), got {beam}")
        outputs, scores = [], []
        for first in range(0, len(sources), batch_size):
            out = self.fn(tf.constant(sources[first:first + batch_size]), tf.constant(beam, tf.int32))
            long = np.flatnonzero(out["source_cut"].numpy())
            if len(long):
                i = int(long[0])
                raise DataError(f"source {first + i + 1} has {int(out['source_tokens'].numpy()[i])} tokens; the model "
                                f"reads at most {self.max_source_tokens - 1} (data.seq2seq.max_source_tokens, less the "
                                "end token): shorten or split it")
            outputs += [t.decode("utf-8", errors="replace") for t in out["translation"].numpy()]
            scores.append(out["score"].numpy())
        return Translations(sources, outputs, np.concatenate(scores), beam)


def read_sources(argument: str) -> list[str]:
    """A file's non-empty lines, or the argument itself as one source."""
    from tfmodels.data.text import read_lines_or_text

    return read_lines_or_text(argument)
