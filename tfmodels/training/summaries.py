"""What TensorBoard shows of a run beyond Keras's own scalars: the config as text, examples (and
tokens) per second, the gradient norm, text samples of a language model, and the hyper-parameters
with the final metrics (the HParams dashboard compares runs).

Written to the log folder the caller names (a run's `logs/run/`, one TensorBoard "run" beside
Keras's train/ and validation/).
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import tensorflow as tf


class ExamplesPerSecond(keras.callbacks.Callback):
    """Adds `examples_per_second` (training steps of the epoch x global batch / its wall time) to the epoch's logs.

    It must come before the TensorBoard and CSV callbacks, which then record it.
    """

    def __init__(self, global_batch: int):
        super().__init__()
        self.global_batch = global_batch
        self._started, self._steps = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._steps = time.time(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["examples_per_second"] = self._steps * self.global_batch / max(time.time() - self._started, 1e-9)


class TokensPerSecond(keras.callbacks.Callback):
    """Adds `tokens_per_second` to each epoch's logs.

    Tokens per second are the trainer's `examples_per_second` (wall time of the epoch, validation
    included: a floor on the training speed) times the sequence length. It runs after the trainer's
    throughput callback and before the TensorBoard and CSV callbacks, so both record the values.
    """

    def __init__(self, sequence_length: int):
        super().__init__()
        self.sequence_length = sequence_length

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if "examples_per_second" in logs:
            logs["tokens_per_second"] = logs["examples_per_second"] * self.sequence_length


class TextSamples(keras.callbacks.Callback):
    """Writes what `sample()` returns (a list of strings: text the model generates) to TensorBoard's
    Text tab at the end of every epoch (a language model's evaluation), under `samples`, step = epoch.

    It draws no random numbers from the training streams (its sampler has its own seed), so a run
    with samples trains exactly as one without. Nothing is written when `log_dir` is None.
    """

    def __init__(self, sample, log_dir):
        super().__init__()
        self.sample, self.log_dir, self._writer = sample, log_dir, None

    def on_epoch_end(self, epoch, logs=None):
        if self.log_dir is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(Path(self.log_dir) / "samples"))
        texts = self.sample()
        with self._writer.as_default():
            # Markdown: a code block keeps the line breaks and spaces of generated text.
            tf.summary.text("samples", "\n\n".join(f"sample {i + 1}:\n\n```\n{t}\n```" for i, t in enumerate(texts)),
                            step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class GradientNorm(keras.callbacks.Callback):
    """Adds `gradient_norm` to the epoch's logs: the global norm of the loss's gradient on one fixed
    batch (the first validation batch: the same in a resumed run), in inference mode (no dropout, so
    no random numbers are drawn and a resumed run stays identical). A norm that grows by orders of
    magnitude warns of divergence before the NaN.
    """

    def __init__(self, batch):
        super().__init__()
        self.batch = batch
        self._norm = None

    def gradient_norm(self):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(self.batch)
        with tf.GradientTape() as tape:
            loss = self.model.compute_loss(x, y, self.model(x, training=False), sample_weight, training=False)
        gradients = [g for g in tape.gradient(loss, self.model.trainable_variables) if g is not None]
        return tf.linalg.global_norm([tf.cast(g, tf.float32) for g in gradients])

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        # A graph, traced again only when the trainable set changes (gradual unfreezing): eagerly, the
        # tape cost 0.26 s an epoch for the 4-layer character GPT.
        trainable = tuple(id(v) for v in self.model.trainable_variables)
        if self._norm is None or self._norm[0] != trainable:
            self._norm = trainable, tf.function(self.gradient_norm)
        logs["gradient_norm"] = float(self._norm[1]())


def write_config_text(log_dir: Path | str, config_yaml: str, data_info: dict | None = None) -> None:
    """The resolved config as text, and what the task says of its data (e.g. the fraction of padding)."""
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        tf.summary.text("config", "```\n" + config_yaml + "```", step=0)
        if data_info and "padding_fraction" in data_info:
            tf.summary.scalar("data/padding_fraction", data_info["padding_fraction"], step=0)


def write_hparams(log_dir: Path | str, hparams: dict, trial_id: str, metrics: dict) -> None:
    """The run's hyper-parameters (flat `section.key` -> value) and its final metrics
    (`final/<split>/<metric>`), for the HParams table."""
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hp.hparams(hparams, trial_id=trial_id)
        for role in ("validation", "test"):
            for name, value in metrics.get(role, {}).items():
                if isinstance(value, dict):  # by type: {type: {metric: value}}
                    for kind, row in value.items():
                        for key, number in row.items():
                            tf.summary.scalar(f"final/{role}/{name}/{kind}/{key}", number, step=0)
                else:
                    tf.summary.scalar(f"final/{role}/{name}", value, step=0)
