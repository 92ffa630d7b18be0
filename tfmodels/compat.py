"""Every private API of another library that tfmodels uses, in one place: what it is, why no public one
does, and the upstream issue. A new Keras or keras-hub that moves one breaks here, and `tests/test_compat.py`
says which.

- Keras has no public way to walk every nested layer of a model (`Model.layers` lists the direct children
  only): `_flatten_layers`, `_layers` (keras-team/keras#4398).
- A LoRA-enabled Dense or Embedding's `kernel`/`embeddings` property returns the kernel merged with its
  adapters in the compute dtype; the frozen base weight itself is `_kernel`/`_embeddings`, which the
  backups and the float32 merge need (keras-team/keras#18725 added LoRA with this layout; no public name).
- `fit` starts at `initial_epoch` only as an argument, which a callback that restores a backup cannot pass:
  Keras's own `BackupAndRestore` sets `model._initial_epoch` (keras-team/keras#19179).
- A built layer's variables are locked by its `_tracker`; a GPTQ layer reloaded without its zero points
  needs one added afterwards (no upstream issue found).
- keras-hub's `TransformerEncoder`/`TransformerDecoder` keep their attention and feed-forward sublayers as
  private attributes; keras-hub's own checkpoint converters read them so (keras-team/keras-hub#2960).
- A Keras optimizer under `tf.distribute` always updates through `maybe_merge_call`, which needs a replica
  context; gradient accumulation updates from the cross-replica context (TensorFlow allows no merge_call
  inside a condition of a replica's step; Keras's own `gradient_accumulation_steps` fails there for that
  reason): `cross_replica_updates` tells TensorFlow's interim helper to call the update directly, through
  the strategy's private `extended._use_merge_call` (no upstream issue found).
- A training step of our own (gradient accumulation) computes the loss as Keras's `train_step` does
  (`Trainer._compute_loss`: the compiled loss, regularisation, the scaling for replicas) and updates the
  loss that `fit` logs (`_loss_tracker`); Keras exposes neither (no upstream issue found).
"""

from __future__ import annotations

from contextlib import contextmanager


def nested_layers(layer, include_self: bool = False) -> list:
    """Every layer inside `layer`, depth first (keras-team/keras#4398)."""
    return list(layer._flatten_layers(include_self=include_self))


def child_layers(layer) -> list:
    """The layers `layer` holds directly, models included (keras-team/keras#4398)."""
    return list(layer._layers)


def is_leaf(layer) -> bool:
    return not child_layers(layer)


def lora_base(layer):
    """The frozen base weight of a LoRA-enabled Dense/EinsumDense (`_kernel`) or Embedding (`_embeddings`)."""
    return layer._embeddings if hasattr(layer, "_embeddings") and not hasattr(layer, "_kernel") else layer._kernel


def raw_kernel(layer):
    """A Dense or EinsumDense layer's own kernel variable (not merged with LoRA adapters), or None."""
    return getattr(layer, "_kernel", None)


def drop_raw_kernel(layer) -> None:
    """A GPTQ-quantized layer holds only its quantized kernel: the float one goes."""
    del layer._kernel


def initial_epoch(model) -> int:
    return getattr(model, "_initial_epoch", None) or 0


def set_initial_epoch(model, epoch: int) -> None:
    """Where the next `fit` starts, set from a callback as `keras.callbacks.BackupAndRestore` does
    (keras-team/keras#19179)."""
    model._initial_epoch = epoch


def step_loss(model, x, y, y_pred, sample_weight):
    """The loss Keras's own `train_step` computes (scaled by 1 / replicas under a strategy)."""
    return model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)


def track_loss(model, loss, batch_size) -> None:
    """Adds a step's (unscaled) loss to the loss `fit` logs, as Keras's `train_step` does."""
    model._loss_tracker.update_state(loss, sample_weight=batch_size)


@contextmanager
def cross_replica_updates(strategy):
    """Inside: a Keras optimizer's `apply` may run in `strategy`'s cross-replica context (at trace time)."""
    extended = strategy.extended
    had = "_use_merge_call" in vars(extended)
    previous = vars(extended).get("_use_merge_call")
    extended._use_merge_call = lambda: False
    try:
        yield
    finally:
        if had:
            extended._use_merge_call = previous
        else:
            del extended._use_merge_call


@contextmanager
def unlocked(layer):
    """Variables may be added to a built layer inside this block."""
    layer._tracker.unlock()
    try:
        yield layer
    finally:
        layer._tracker.lock()


def keras_hub_block(block) -> dict:
    """A keras-hub TransformerEncoder/TransformerDecoder's sublayers by role (keras-team/keras-hub#2960)."""
    attention = block._self_attention_layer
    return {"attention": attention, "query": attention._query_dense, "key": attention._key_dense,
            "value": attention._value_dense, "output": attention._output_dense,
            "attention_norm": block._self_attention_layer_norm, "ffn_norm": block._feedforward_layer_norm,
            "ffn_intermediate": block._feedforward_intermediate_dense, "ffn_output": block._feedforward_output_dense}
