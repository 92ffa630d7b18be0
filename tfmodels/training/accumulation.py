"""Gradient accumulation: one optimizer update from k micro-batches, equal to one update on all of them.

`trainer.batch_size` stays the batch of one update; with `trainer.gradient_accumulation_steps` = k
each of the pipeline's batches is cut, in order, into k micro-batches (`micro_batches`), and the
model's training step becomes `AccumulatingStep`:

    micro-batch j:  L_j = the compiled loss, a mean over its weight W_j (the tokens that carry a
                    sample weight, with `mean_with_sample_weight`; else every loss element)
                    acc += grad(L_j * W_j)          the gradient of the *sum* of its losses
                    w   += W_j
    after the k-th: update with acc / w            (w summed over the replicas, as the gradients are)
                    acc, w = 0

so an update follows the mean over every token of the window, not the mean of k micro-batch means
(which weights a micro-batch of 3 tokens as much as one of 300). The optimizer is called once per
window, so its `iterations` (which the learning-rate schedule, Adam's bias correction, TensorBoard's
step axis and the pruning schedule read) counts updates. Keras's own `gradient_accumulation_steps`
averages the k gradients and lets the schedule count micro-batches; it is not used for those two
reasons.

The accumulators are per-replica variables, zero between windows; backups are written at the end of
an epoch, which is always the end of a window (an epoch is a whole number of updates), so a resumed run
never needs them.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfmodels.compat import cross_replica_updates, step_loss, track_loss


def micro_batches(dataset: tf.data.Dataset, global_batch: int, steps: int) -> tf.data.Dataset:
    """Each `global_batch`-row batch of `dataset` as `steps` batches of `global_batch // steps` rows, in order."""
    if steps == 1:
        return dataset
    return dataset.rebatch(global_batch // steps)


class AccumulatingStep:
    """Replaces `model.train_step` with one that accumulates `steps` micro-batches per update.

    Made inside the strategy's scope, after `compile` (it reads the compiled loss and optimizer), once
    the trainable variables are settled (the accumulators are made for them).
    """

    def __init__(self, model: keras.Model, steps: int):
        self.model, self.steps = model, int(steps)
        self.variables = list(model.trainable_variables)
        on_read = {"trainable": False, "synchronization": tf.VariableSynchronization.ON_READ,
                   "aggregation": tf.VariableAggregation.SUM}
        self.sums = [tf.Variable(tf.zeros(v.shape, tf.float32), name="accumulated_gradient", **on_read)
                     for v in self.variables]
        self.weight = tf.Variable(0.0, name="accumulated_weight", **on_read)
        self.count = tf.Variable(0, dtype=tf.int64, name="accumulated_micro_batches",
                                 **{**on_read, "aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA})
        model.train_step = self.train_step

    def loss_weight(self, y, sample_weight):
        """W_j: what the compiled loss divided its sum by."""
        reduction = getattr(self.model.loss, "reduction", "sum_over_batch_size")
        if sample_weight is not None and reduction == "mean_with_sample_weight":
            return tf.reduce_sum(tf.cast(sample_weight, tf.float32))
        return tf.cast(tf.size(tf.nest.flatten(y)[0]), tf.float32)

    def train_step(self, data):
        model, optimizer = self.model, self.model.optimizer
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if not optimizer.built:  # its variables are made here, outside the cond below
            optimizer.build(self.variables)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = step_loss(model, x, y, y_pred, sample_weight)
            weight = self.loss_weight(y, sample_weight)
            summed = tf.cast(loss, tf.float32) * weight * replicas  # Keras divided the loss by the replicas
        track_loss(model, loss * replicas, tf.shape(tf.nest.flatten(x)[0])[0])
        gradients = tape.gradient(summed, self.variables)
        for total, gradient in zip(self.sums, gradients):
            if gradient is not None:
                total.assign_add(tf.cast(tf.convert_to_tensor(gradient), tf.float32))
        self.weight.assign_add(weight)
        self.count.assign_add(1)
        # The update is a synchronisation point (the replicas' sums add up), which TensorFlow does not allow
        # inside a condition of a replica's step: it happens in the cross-replica context, once a window.
        updated = tf.distribute.get_replica_context().merge_call(self._update_after_window)
        tf.cond(updated, self._reset, lambda: tf.constant(False))
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _update_after_window(self, strategy):
        """Cross-replica: after the k-th micro-batch, the update with (sum of the replicas' sums) / (their
        weight). A sync-on-read variable read here is the sum over the replicas."""
        def update():
            scale = 1.0 / tf.maximum(self.weight.read_value(), 1e-12)
            with cross_replica_updates(strategy):
                self.model.optimizer.apply([tf.cast(s.read_value() * scale, v.dtype)
                                            for s, v in zip(self.sums, self.variables)], self.variables)
            return tf.constant(True)

        return tf.cond(self.count.read_value() % self.steps == 0, update, lambda: tf.constant(False))

    def _reset(self):
        for s in self.sums:
            s.assign(tf.zeros_like(s))
        self.weight.assign(0.0)
        return tf.constant(True)
