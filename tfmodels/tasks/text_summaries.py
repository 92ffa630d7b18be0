"""TensorBoard for text classifiers: a few fixed validation sentences, their predictions, and (for a
Transformer) the last layer's attention on each, at the end of every epoch."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfmodels.plots import attention_map_png


class TextExamplesAndAttention(keras.callbacks.Callback):
    """Writes `examples` (text: sentence, label, prediction) and `attention/<i>` (images) to `log_dir`."""

    def __init__(self, log_dir: Path | str, texts: list[str], labels: list[int], preprocessor, class_names: list[str],
                 second: list[str] | None = None):
        super().__init__()
        self.log_dir = str(log_dir)
        self.labels, self.class_names = list(labels), list(class_names)
        self.preprocessor = preprocessor
        columns = [list(texts)] + ([list(second)] if second is not None else [])
        self.token_ids = np.asarray(preprocessor(*(tf.constant(c) for c in columns)))  # (N, T)
        self.texts = [" [SEP] ".join(parts) for parts in zip(*columns)]  # a pair shown as the model reads it

    def on_epoch_end(self, epoch, logs=None):
        probabilities = tf.nn.softmax(tf.cast(self.model(self.token_ids, training=False), tf.float32)).numpy()
        rows = ["| sentence | label | predicted | probability |", "|---|---|---|---|"]
        for text, label, p in zip(self.texts, self.labels, probabilities):
            rows.append(f"| {text} | {self.class_names[label]} | {self.class_names[int(p.argmax())]} | {p.max():.3f} |")
        with tf.summary.create_file_writer(self.log_dir).as_default():
            tf.summary.text("examples", "\n".join(rows), step=epoch)
            if getattr(self.model, "shows_attention", False):
                last = np.asarray(self.model.attention_scores(self.token_ids)[-1], dtype="float32")  # (N, heads, T, T)
                for i, ids in enumerate(self.token_ids):
                    n = int(np.sum(ids != self.preprocessor.pad_id))
                    tokens = [self.preprocessor.vocabulary[t] for t in ids[:n]]
                    png = attention_map_png(last[i].mean(axis=0)[:n, :n], tokens, f"epoch {epoch + 1}, last layer")
                    tf.summary.image(f"attention/{i}", tf.image.decode_png(png)[None], step=epoch)
