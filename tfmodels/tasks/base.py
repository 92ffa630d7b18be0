"""What every task offers the trainer, with the defaults of a classifier."""

from __future__ import annotations

import keras

from tfmodels.config import Config
from tfmodels.errors import ConfigError


class Task:
    """Loads data, prepares preprocessing, builds datasets and the model; the trainer calls these in order:
    `load()`, `prepare(run_dir or None)`, `datasets()`, `build_model()` and `compile_args()` in the
    strategy's scope, `save_assets()`, `data_info()`, `callbacks()`, then `finish()` after training.
    """

    input_name = "inputs"

    def __init__(self, config: Config):
        self.config = config
        self.splits = {}
        self.num_classes = 0

    def load(self) -> None:  # pragma: no cover - every task overrides it
        raise NotImplementedError

    def prepare(self, run_dir=None) -> None:
        """Learn what preprocessing needs from the training data (or read it from a resumed run)."""

    def save_assets(self, run_dir) -> None:
        """Write what the run folder needs beside the model (e.g. a vocabulary)."""

    def datasets(self, global_batch: int, seed: int, epochs: int, first_epoch: int = 0):  # pragma: no cover
        """(training batches for epochs first_epoch .. epochs - 1 in one stream, {role: evaluation batches})."""
        raise NotImplementedError

    def train_examples(self) -> int:
        return len(self.splits["train"])

    def compile_args(self) -> dict:
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def callbacks(self, global_batch: int, log_dir=None) -> list:
        return []

    def warm_start(self, model, run_dir) -> None:
        """Start from a finished run's weights (`init.from_run`): the whole model, shapes one for one."""
        from tfmodels.training.warm_start import load_initial_weights

        load_initial_weights(model, run_dir)

    def configure_training(self, model) -> None:
        """Choose what trains (e.g. freeze parts, add adapters) before the model is compiled."""
        if self.config.trainer.finetune != "full":
            raise ConfigError(f"trainer.finetune={self.config.trainer.finetune!r} is for text classifiers "
                              "fine-tuned from a pretrained run; use trainer.finetune=full")

    def finish(self, model, run_dir) -> None:
        """After training, with the best weights loaded."""

    def model_for_saving(self, model):
        """The model written to model.keras (e.g. with adapters merged into plain weights)."""
        return model
