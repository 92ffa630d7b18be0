"""Batches by length (`data.batch_by_length`): the same examples an epoch, a seeded order, less padding,
and the same outputs as the padded batch."""

import numpy as np
import pytest
import tensorflow as tf

from tfmodels.config import load_config
from tfmodels.data.order import LENGTH_MULTIPLE, batches_by_length, epoch_order, length_grouped_order, trim_padding
from tfmodels.models import build_text_model

PAD = 0


def _ids(n=500, width=40, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, width + 1, n)
    ids = rng.integers(5, 100, (n, width)).astype(np.int32)
    ids[np.arange(width)[None, :] >= lengths[:, None]] = PAD
    return ids, lengths, np.arange(n, dtype=np.int32)  # labels: the example's index


def test_each_epoch_sees_the_examples_of_its_permutation_in_full_batches_cut_to_their_longest():
    ids, lengths, labels = _ids()
    batches = list(batches_by_length(ids, labels, PAD, 32, seed=3, epochs=2))
    assert len(batches) == 2 * (500 // 32)
    for epoch in range(2):
        seen = np.concatenate([y.numpy() for _, y in batches[epoch * 15:(epoch + 1) * 15]])
        assert sorted(seen) == sorted(epoch_order(500, 3, epoch)[:15 * 32])  # the same ones as without grouping
    for x, y in batches:
        width = lengths[y.numpy()].max()
        assert x.shape[1] == min(-(-width // LENGTH_MULTIPLE) * LENGTH_MULTIPLE, 40)
        np.testing.assert_array_equal(x.numpy(), ids[y.numpy()][:, :x.shape[1]])
    padded = sum(b[0].shape[0] * b[0].shape[1] for b in batches)
    assert padded < 0.75 * len(batches) * 32 * 40  # most of the padding is gone


def test_the_order_is_a_function_of_seed_and_epoch_so_a_resume_sees_the_same_batches():
    ids, lengths, labels = _ids()
    whole = [y.numpy() for _, y in batches_by_length(ids, labels, PAD, 32, seed=5, epochs=3)]
    resumed = [y.numpy() for _, y in batches_by_length(ids, labels, PAD, 32, seed=5, epochs=3, first_epoch=2)]
    for a, b in zip(whole[-len(resumed):], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(length_grouped_order(lengths, 32, 5, 0), length_grouped_order(lengths, 32, 6, 0))
    spread = np.mean([np.ptp(lengths[b]) for b in length_grouped_order(lengths, 32, 5, 0).reshape(-1, 32)])
    assert spread < 0.5 * np.mean([np.ptp(lengths[b]) for b in epoch_order(500, 5, 0)[:480].reshape(-1, 32)])


@pytest.mark.parametrize("pairs", [False, True])
def test_a_batch_cut_to_its_longest_gives_the_padded_batch_s_outputs(pairs):
    config = load_config("encoder_synthetic")
    model = build_text_model(config.model, 120, 40, 2, padding_id=PAD, separator_id=3)
    ids, _, labels = _ids(64)
    if pairs:
        ids[:, 5] = 3  # a [SEP] inside: segments are read from it
    (trimmed, _), = list(trim_padding(tf.data.Dataset.from_tensors((ids, labels)), PAD))
    assert trimmed.shape[1] < 40 or ids[:, -1].any()
    np.testing.assert_allclose(model(trimmed).numpy(), model(ids).numpy(), atol=1e-5)
