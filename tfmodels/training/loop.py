"""The one seam between a run and Keras's training: `fit` and `evaluate`.

They call `model.fit` / `model.evaluate`, except under `MultiWorkerMirroredStrategy`, where
Keras 3.15's `model.fit` under `MultiWorkerMirroredStrategy` stops with "PerReplica cannot be
converted" (keras-team/keras#20585): there the loop below runs the model's own `train_step` and `test_step`
through `strategy.run` and drives the same Keras callbacks the way `fit` does (train begin, epoch
begin, batch end, validation as `val_*` logs, epoch end, `stop_training`, the initial epoch that
the resumable backup sets), so checkpoints, TensorBoard, CSV logs and early stopping behave alike.

Every global batch is split in order: replica r of the cluster gets rows
[r * per_replica, (r + 1) * per_replica), the split `MirroredStrategy` makes on one machine, so a
multi-worker run trains on exactly the batches a single process would see.

Both paths retrace the training step the same way when a callback changes which variables train
(gradual unfreezing): at the start of each epoch, the set of trainable variables is compared with
the one the step was traced for.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmodels.compat import initial_epoch


def training_length(trainer, train_examples: int, global_batch: int) -> tuple[int, int]:
    """(epochs, steps per epoch). Training by steps (`trainer.max_steps`) is Keras's fit with an
    "epoch" of `eval_interval` steps: evaluation, the logs and the backup come at each one's end."""
    if trainer.max_steps is not None:
        return trainer.max_steps // trainer.eval_interval, trainer.eval_interval
    return trainer.epochs, train_examples // global_batch


def fit(model: keras.Model, strategy: tf.distribute.Strategy, train_ds: tf.data.Dataset, *, global_batch: int,
        steps_per_epoch: int, epochs: int, callbacks: list, validation_data: tf.data.Dataset | None = None,
        verbose: int = 2, steps_per_execution: int = 1) -> keras.callbacks.History:
    """Trains `model` for `epochs` epochs of `steps_per_epoch` steps; `train_ds` holds every remaining
    epoch's batches in one stream, in the pipeline's order (no shuffling here)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return fit_with_strategy_run(model, strategy, train_ds, global_batch, steps_per_epoch, epochs, callbacks,
                                     validation_data=validation_data, verbose=verbose,
                                     steps_per_execution=steps_per_execution)
    return model.fit(train_ds, validation_data=validation_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                     shuffle=False, callbacks=[*callbacks, RetraceWhenTrainableChanges()], verbose=verbose)


def evaluate(model: keras.Model, strategy: tf.distribute.Strategy, dataset: tf.data.Dataset) -> dict:
    """The compiled loss and metrics over `dataset`, as floats."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return evaluate_with_strategy_run(model, strategy, dataset)
    return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


class RetraceWhenTrainableChanges(keras.callbacks.Callback):
    """`model.fit`'s side of the retracing rule: a new train function when the trainable set changed.

    Last in the callback list, so that it sees what the other callbacks set at the epoch's start.
    """

    def __init__(self):
        super().__init__()
        self.traced_for = ()

    def on_train_begin(self, logs=None):
        self.traced_for = _ids(self.model.trainable_variables)

    def on_epoch_begin(self, epoch, logs=None):
        trainable = _ids(self.model.trainable_variables)
        if trainable != self.traced_for:
            self.model.make_train_function(force=True)
            self.traced_for = trainable


def fit_with_strategy_run(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    global_batch: int,
    steps_per_epoch: int,
    epochs: int,
    callbacks: list,
    validation_data: tf.data.Dataset | None = None,
    verbose: int = 2,
    steps_per_execution: int = 1,
) -> keras.callbacks.History:
    """`model.fit(train_ds, steps_per_epoch=..., epochs=..., validation_data=...)`, one `strategy.run` a step.

    `train_ds` yields global batches of exactly `global_batch` rows, every epoch's in one stream
    (as `tfmodels.data.order.training_batches` makes them); one iterator serves the whole run.
    """
    steps = steps_per_epoch
    per_replica = global_batch // strategy.num_replicas_in_sync
    distributed = strategy.distribute_datasets_from_function(lambda ctx: _replica_slices(train_ds, ctx, per_replica))

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=steps, model=model
    )
    model.stop_training = False
    train_step, trained_variables = None, None
    test_step = _make_test_step(model, strategy)
    iterator = iter(distributed)
    callback_list.on_train_begin()
    epoch_logs: dict = {}
    for epoch in range(initial_epoch(model), epochs):  # the backup sets the initial epoch on resume
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        if trained_variables != _ids(model.trainable_variables):  # a callback may have (un)frozen layers
            train_step, trained_variables = _make_train_step(model, strategy), _ids(model.trainable_variables)
        step = 0
        while step < steps:
            n = min(steps_per_execution, steps - step)
            callback_list.on_train_batch_begin(step)
            logs = train_step(iterator, tf.constant(n))
            step += n
            callback_list.on_train_batch_end(step - 1, {k: v.numpy() for k, v in logs.items()})
            if model.stop_training:
                break
        epoch_logs = _results(model)
        if validation_data is not None:
            epoch_logs.update({f"val_{k}": v for k, v in evaluate_with_strategy_run(model, strategy, validation_data,
                                                                                       test_step).items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=epoch_logs)
    return model.history


def evaluate_with_strategy_run(model: keras.Model, strategy: tf.distribute.Strategy, dataset: tf.data.Dataset,
                               test_step=None) -> dict:
    """`model.evaluate(dataset, return_dict=True)` through `strategy.run`."""
    test_step = test_step or _make_test_step(model, strategy)
    model.reset_metrics()
    for batch in _distribute_for_evaluation(strategy, dataset):
        test_step(batch)
    return _results(model)


def _replica_slices(dataset: tf.data.Dataset, ctx: tf.distribute.InputContext, per_replica: int) -> tf.data.Dataset:
    """This worker's part of every global batch, as batches of `per_replica` rows for its local replicas."""
    local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
    start, stop = ctx.input_pipeline_id * local * per_replica, (ctx.input_pipeline_id + 1) * local * per_replica
    part = dataset.map(lambda *batch: tf.nest.map_structure(lambda t: t[start:stop], batch if len(batch) > 1 else batch[0]))
    return part.rebatch(per_replica) if local > 1 else part


def _distribute_for_evaluation(strategy, dataset: tf.data.Dataset):
    """Evaluation sums metrics over every example once; which replica sees which one does not matter."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _make_train_step(model: keras.Model, strategy):
    def one_step(iterator):
        outputs = strategy.run(model.train_step, args=(next(iterator),))
        return {k: strategy.experimental_local_results(v)[0] for k, v in outputs.items()}

    @tf.function
    def train_step(iterator, n):  # n steps a call: steps_per_execution
        logs = one_step(iterator)
        for _ in tf.range(n - 1):
            logs = one_step(iterator)
        return logs

    return train_step


def _make_test_step(model: keras.Model, strategy):
    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    return test_step


def _results(model: keras.Model) -> dict:
    """The epoch's metrics, summed over every replica of every worker (they are sync-on-read)."""
    return {k: float(v) for k, v in model.get_metrics_result().items()}


def _ids(variables) -> tuple:
    return tuple(id(v) for v in variables)
