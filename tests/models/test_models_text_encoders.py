"""The recurrent (LSTM, GRU) and convolutional (Kim's TextCNN) text encoders: the shared battery inside a
classifier, the encoder contract, and padding that changes nothing."""

import keras
import numpy as np
import pytest
from helpers import run_layer_test

from tfmodels.models import TextClassifier
from tfmodels.networks import RecurrentEncoder, TextCNNEncoder

IDS = np.array([[1, 5, 6, 7, 0, 0, 0, 0], [1, 8, 9, 4, 3, 2, 0, 0], [1, 2, 0, 0, 0, 0, 0, 0], [1, 3, 3, 3, 3, 3, 3, 3]])
LABELS = np.array([0, 1, 1, 0])
V, E = 12, 6


def lstm_params(e, u):
    return 4 * (e * u + u * u + u)


def gru_params(e, u):
    return 3 * (e * u + u * u + 2 * u)  # Keras's GRU: reset_after, two bias rows


@pytest.mark.parametrize("encoder, encoder_params, encoder_weights", [
    (lambda dtype: RecurrentEncoder(V, "lstm", E, 5, num_layers=2, dtype=dtype),
     V * E + 2 * lstm_params(E, 5) + 2 * lstm_params(10, 5), 1 + 2 * 2 * 3),
    (lambda dtype: RecurrentEncoder(V, "gru", E, 5, bidirectional=False, dtype=dtype), V * E + gru_params(E, 5), 1 + 3),
    (lambda dtype: TextCNNEncoder(V, E, (2, 3), 4, dtype=dtype), V * E + (2 * E * 4 + 4) + (3 * E * 4 + 4), 1 + 2 * 2),
])
@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_classifier_battery_on_each_encoder(encoder, encoder_params, encoder_weights, pooling, tmp_path):
    width = encoder(None).width
    run_layer_test(TextClassifier, lambda dtype: {"encoder": encoder(dtype), "num_classes": 2, "pooling": pooling},
                   IDS, (4, 2), encoder_weights + 2, tmp_path, expected_num_params=encoder_params + width * 2 + 2,
                   targets=LABELS, output_dtype="float32")


@pytest.mark.parametrize("make", [lambda: RecurrentEncoder(V, "lstm", E, 5), lambda: RecurrentEncoder(V, "gru", E, 5),
                                  lambda: TextCNNEncoder(V, E, (3, 4, 5), 4)])
def test_padding_changes_nothing(make):
    """A text pooled with max or mean reads the same however much padding follows it (each RNN direction skips it,
    the backward one starting at the last real token; the convolutions see zeros and the pooling masks them)."""
    keras.utils.set_random_seed(0)
    for pooling in ("max", "mean"):
        model = TextClassifier(make(), 2, pooling=pooling)
        model.build((None, 8))
        short = np.asarray(model(IDS))
        long = np.asarray(model(np.pad(IDS, ((0, 0), (0, 6)))))
        np.testing.assert_allclose(short, long, atol=1e-5)


def test_bidirectional_reads_both_ways():
    """The backward half of the first position has read the whole text: changing the last real token moves it;
    the forward half of the first position has read only the first token and does not move."""
    keras.utils.set_random_seed(1)
    encoder = RecurrentEncoder(V, "lstm", E, 5)
    encoder.build((None, 8))
    changed = IDS.copy()
    changed[0, 3] = 9
    a, b = np.asarray(encoder(IDS)), np.asarray(encoder(changed))
    np.testing.assert_allclose(a[0, 0, :5], b[0, 0, :5], atol=1e-6)  # forward, position 0
    assert np.abs(a[0, 0, 5:] - b[0, 0, 5:]).max() > 1e-4  # backward, position 0


def test_max_over_time_is_kims_pooling():
    """TextCNN + max pooling = for each filter, the maximum of ReLU(w . x_{i:i+h-1} + b) over the real positions."""
    keras.utils.set_random_seed(2)
    encoder = TextCNNEncoder(V, E, (3,), 4)
    model = TextClassifier(encoder, 2, pooling="max", dropout=0.0)
    model.build((None, 8))
    maps = np.asarray(encoder(IDS))  # (B, T, 4)
    x = np.asarray(encoder.wte(IDS)) * (IDS != 0)[..., None]
    kernel, bias = (np.asarray(w) for w in encoder.convolutions[0].weights)  # (3, E, 4), (4,)
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))  # 'same' for a width of 3
    expected = np.stack([np.einsum("bhe,hef->bf", padded[:, t:t + 3], kernel) for t in range(8)], axis=1) + bias
    np.testing.assert_allclose(maps, np.maximum(expected, 0.0), atol=1e-5)
    pooled = np.stack([maps[i, IDS[i] != 0].max(axis=0) for i in range(len(IDS))])
    logits = pooled @ np.asarray(model.logits.kernel) + np.asarray(model.logits.bias)
    np.testing.assert_allclose(np.asarray(model(IDS)), logits, atol=1e-5)


def test_encoder_contract():
    for encoder in (RecurrentEncoder(V, "gru", E, 5, num_layers=2), TextCNNEncoder(V, E, (3, 5), 7)):
        encoder.build((None, 8))
        assert encoder.token_embedding is encoder.wte
        assert encoder.blocks == () and encoder.returns_attention is False
        np.testing.assert_array_equal(np.asarray(encoder.padding_mask(IDS)), IDS != 0)
        assert tuple(encoder(IDS).shape) == (4, 8, encoder.width)
    assert RecurrentEncoder(V, "lstm", E, 5).width == 10 and RecurrentEncoder(V, "lstm", E, 5, bidirectional=False).width == 5
    assert TextCNNEncoder(V, E, (3, 4, 5), 100).width == 300


def test_bad_arguments():
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentEncoder(V, "rnn")
    with pytest.raises(ValueError, match="must be positive"):
        TextCNNEncoder(V, E, (), 4)
    with pytest.raises(ValueError, match="pooling must be 'first', 'mean' or 'max'"):
        TextClassifier(TextCNNEncoder(V, E), 2, pooling="last")
