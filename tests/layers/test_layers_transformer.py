"""The Transformer's layers and models: the battery, and numbers that prove the wiring."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_layer_test

from tfmodels.converters.keras_hub_bert import to_bert_backbone
from tfmodels.layers import (
    MultiHeadSelfAttention,
    TokenAndPositionEmbedding,
    TransformerEncoderBlock,
    segment_ids_from_separators,
)
from tfmodels.models import MaskedLMModel, TextClassifier
from tfmodels.networks import BagOfWordsEncoder, TransformerEncoder
from tfmodels.transforms.lora import enable_lora

RNG = np.random.default_rng(0)
B, T, C, H, V = 3, 12, 32, 4, 50
VECTORS = RNG.normal(size=(B, T, C)).astype(np.float32)
TOKENS = RNG.integers(5, V, size=(B, T)).astype(np.int32)
TOKENS[1, 8:] = 0  # padding
TOKENS[2, 5:] = 0
LABELS = np.array([0, 1, 2])


def small_encoder(**kwargs):
    defaults = dict(vocabulary_size=V, sequence_length=T + 8, width=C, num_layers=2, num_heads=H, ffn_dim=64,
                    dropout=0.0)
    return TransformerEncoder(**{**defaults, **kwargs})


# --- the battery, for every layer and model ----------------------------------------------------

ENCODER = dict(vocabulary_size=V, sequence_length=T + 8, width=C, num_layers=2, num_heads=H, ffn_dim=64, dropout=0.0)

# Parameter counts, from the sizes (C = 32, V = 50, positions T + 8 = 20, feed-forward F = 64):
ATTENTION = (C * 3 * C + 3 * C) + (C * C + C)  # c_attn (fused q, k, v) and c_proj, with biases: 4,224
NORM = 2 * C  # a layer norm's scale and offset


def block_params(ffn_dim):
    return ATTENTION + 2 * NORM + (C * ffn_dim + ffn_dim) + (ffn_dim * C + C)  # attention, ln_1, ln_2, c_fc, c_proj


TOKEN_TABLE, POSITION_TABLE = V * C, (T + 8) * C
ENCODER_PARAMS = TOKEN_TABLE + POSITION_TABLE + 2 * block_params(64) + NORM  # wte, wpe, blocks, ln_f (or ln_emb)
HEAD = C * 3 + 3  # the classifier's logits over 3 classes


@pytest.mark.parametrize("cls, kwargs, inputs, trainable, params", [
    (MultiHeadSelfAttention, dict(num_heads=H, dropout=0.1), VECTORS, 4, ATTENTION),  # c_attn, c_proj: kernel and bias
    (TransformerEncoderBlock, dict(num_heads=H, ffn_dim=64, norm_first=True), VECTORS, 12, block_params(64)),
    (TransformerEncoderBlock, dict(num_heads=2, ffn_dim=16, norm_first=False, activation="relu"), VECTORS, 12,
     block_params(16)),
    (TokenAndPositionEmbedding, dict(vocabulary_size=V, sequence_length=T, width=C, position="learned"), TOKENS, 2,
     V * C + T * C),
    (TokenAndPositionEmbedding, dict(vocabulary_size=V, sequence_length=T, width=C, position="sinusoidal",
                                     padding_id=1), TOKENS, 1, V * C),  # the sines are no weights
    (TransformerEncoder, dict(ENCODER), TOKENS, 2 + 2 * 12 + 2, ENCODER_PARAMS),  # embeddings, blocks, ln_f
    (TransformerEncoder, dict(ENCODER, norm_first=False, position="sinusoidal"), TOKENS, 1 + 2 + 2 * 12,
     ENCODER_PARAMS - POSITION_TABLE),  # ln_emb instead of ln_f
    (TransformerEncoder, dict(ENCODER, norm_first=False, activation="gelu_approximate", layer_norm_epsilon=1e-12,
                              initializer_range=0.02, num_segments=2, separator_id=2), TOKENS, 3 + 2 + 2 * 12,
     ENCODER_PARAMS + 2 * C),  # and a segment table of 2 rows
    (TokenAndPositionEmbedding, dict(vocabulary_size=V, sequence_length=T, width=C, num_segments=2, separator_id=7),
     TOKENS, 3, V * C + T * C + 2 * C),
    (BagOfWordsEncoder, dict(vocabulary_size=V, width=C), TOKENS, 1, V * C),
], ids=["attention", "block_pre", "block_post", "embedding", "embedding_sine", "encoder", "encoder_post_sine",
        "encoder_bert", "embedding_segments", "bag_of_words"])
def test_layer_and_encoder_battery(cls, kwargs, inputs, trainable, params, tmp_path):
    run_layer_test(cls, kwargs, inputs, (B, T, C), trainable, tmp_path, expected_num_params=params)


def classifier_kwargs(encoder_cls, encoder_kwargs, pooling):
    """TextClassifier's arguments, its encoder made under the same dtype policy."""
    return lambda dtype: dict(encoder=encoder_cls(**encoder_kwargs, dtype=dtype), num_classes=3, pooling=pooling,
                              dropout=0.2)


@pytest.mark.parametrize("pooling, encoder_cls, encoder_kwargs, trainable, params", [
    ("first", TransformerEncoder, ENCODER, 28 + 2, ENCODER_PARAMS + HEAD),
    ("mean", TransformerEncoder, dict(ENCODER, norm_first=False), 28 + 2, ENCODER_PARAMS + HEAD),
    ("mean", BagOfWordsEncoder, dict(vocabulary_size=V, width=C), 1 + 2, V * C + HEAD),
])
def test_text_classifier_battery(pooling, encoder_cls, encoder_kwargs, trainable, params, tmp_path):
    run_layer_test(TextClassifier, classifier_kwargs(encoder_cls, encoder_kwargs, pooling), TOKENS, (B, 3),
                   trainable, tmp_path, expected_num_params=params, targets=LABELS, output_dtype="float32")


def test_lora_classifier_battery(tmp_path):
    """LoRA on: the trainable weights are the adapters (2 blocks x 4 projections x 2 factors) and the head."""
    def prepare(model):
        model.build((None, T))
        enable_lora(model, rank=2)

    r = 2  # each adapted (in, out) kernel gets A (in, r) and B (r, out)
    adapters = (C * r + r * 3 * C) + (C * r + r * C) + (C * r + r * 64) + (64 * r + r * C)  # c_attn, c_proj, c_fc, c_proj
    run_layer_test(TextClassifier, classifier_kwargs(TransformerEncoder, ENCODER, "first"), TOKENS, (B, 3),
                   2 * 4 * 2 + 2, tmp_path, expected_num_params=2 * adapters + HEAD, targets=LABELS, prepare=prepare,
                   output_dtype="float32")


@pytest.mark.parametrize("tie_weights, head, head_params", [
    (True, 5, (C * C + C) + NORM + V),  # dense, its layer norm, the output bias
    (False, 6, (C * C + C) + NORM + V + C * V),  # and its own output kernel
])
def test_masked_lm_battery(tie_weights, head, head_params, tmp_path):
    """The head: dense and its norm (4), the output bias, and its own kernel when not tied to the embedding."""
    inputs = {"token_ids": TOKENS, "mask_positions": np.array([[1, 2], [0, 3], [4, 1]], np.int32)}
    run_layer_test(MaskedLMModel, lambda dtype: dict(encoder=TransformerEncoder(**ENCODER, dtype=dtype),
                                                     tie_weights=tie_weights),
                   inputs, (B, 2, V), 28 + head, tmp_path, expected_num_params=ENCODER_PARAMS + head_params,
                   targets=np.zeros((B, 2), np.int32),
                   prepare=lambda m: m.build({"token_ids": (None, T), "mask_positions": (None, 2)}),
                   output_dtype="float32")


# --- attention that really attends and a mask that really masks -------------------------------

def test_attention_scores_shape_rows_and_padded_keys():
    encoder = small_encoder()
    _, scores = encoder(TOKENS, return_attention_scores=True)
    assert len(scores) == 2
    for layer_scores in scores:
        s = np.asarray(layer_scores)
        assert s.shape == (B, H, T, T)
        np.testing.assert_allclose(s.sum(axis=-1), 1.0, atol=1e-5)
        assert s[1, :, :, 8:].max() == 0.0 and s[2, :, :, 5:].max() == 0.0  # padded keys
        assert s[0].min() > 0.0  # no padding: every key gets weight


@pytest.mark.parametrize("norm_first", [True, False])
def test_appending_padding_changes_nothing_at_real_positions(norm_first):
    encoder = small_encoder(norm_first=norm_first)
    classifier = TextClassifier(encoder, num_classes=3, pooling="mean", dropout=0.0)
    short = TOKENS[:, :8].copy()
    short[1, 6:] = 0
    padded = np.concatenate([short, np.zeros((B, 8), np.int32)], axis=1)  # (B, 16)
    out_short, out_padded = np.asarray(encoder(short)), np.asarray(encoder(padded))
    real = short != 0
    np.testing.assert_allclose(out_padded[:, :8][real], out_short[real], atol=1e-5)
    np.testing.assert_allclose(np.asarray(classifier(padded)), np.asarray(classifier(short)), atol=1e-5)


def test_classifier_shows_its_encoders_attention():
    classifier = TextClassifier(small_encoder(), num_classes=3)
    scores = classifier.attention_scores(TOKENS)
    assert [tuple(s.shape) for s in scores] == [(B, H, T, T)] * 2
    with pytest.raises(ValueError, match="BagOfWordsEncoder has no attention to show"):
        TextClassifier(BagOfWordsEncoder(V, width=C), num_classes=3, pooling="mean").attention_scores(TOKENS)


def test_first_token_pooling_is_padding_invariant_too():
    classifier = TextClassifier(small_encoder(), num_classes=3, pooling="first", dropout=0.0)
    padded = np.concatenate([TOKENS, np.zeros((B, 6), np.int32)], axis=1)
    np.testing.assert_allclose(np.asarray(classifier(padded)), np.asarray(classifier(TOKENS)), atol=1e-5)


def test_swapping_two_tokens_changes_other_positions():
    encoder = small_encoder()
    swapped = TOKENS.copy()
    swapped[0, [2, 3]] = swapped[0, [3, 2]]
    a, b = np.asarray(encoder(TOKENS))[0], np.asarray(encoder(swapped))[0]
    others = [i for i in range(T) if i not in (2, 3)]
    assert np.abs(a[others] - b[others]).max() > 1e-3  # order matters through positions and attention
    bag = BagOfWordsEncoder(V, width=C)
    pooled = TextClassifier(bag, 3, pooling="mean", dropout=0.0)
    np.testing.assert_allclose(np.asarray(pooled(TOKENS))[0], np.asarray(pooled(swapped))[0], atol=1e-6)


def test_attention_equals_the_formula():
    layer = MultiHeadSelfAttention(num_heads=2)
    x = VECTORS[:1, :5]
    mask = np.array([[True, True, True, False, False]])
    y, weights = layer(x, padding_mask=mask, return_attention_scores=True)
    kernel, bias = (np.asarray(w) for w in layer.c_attn.weights)
    q, k, v = np.split(x[0] @ kernel + bias, 3, axis=-1)  # (T, C) each
    hs = C // 2
    expected_heads = []
    for h in range(2):
        qh, kh, vh = (m[:, h * hs:(h + 1) * hs] for m in (q, k, v))
        scores = qh @ kh.T / np.sqrt(hs)
        scores[:, ~mask[0]] = -np.inf
        w = np.exp(scores - scores.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        np.testing.assert_allclose(np.asarray(weights)[0, h], w, atol=1e-5)
        expected_heads.append(w @ vh)
    proj_kernel, proj_bias = (np.asarray(w) for w in layer.c_proj.weights)
    np.testing.assert_allclose(np.asarray(y)[0], np.concatenate(expected_heads, -1) @ proj_kernel + proj_bias, atol=1e-4)


# --- parity with keras-hub ---------------------------------------------------------------------

def copy_keras_hub_weights(ours: TransformerEncoderBlock, theirs) -> None:
    attention = theirs._self_attention_layer
    q, k, v, o = (attention._query_dense, attention._key_dense, attention._value_dense, attention._output_dense)
    flat = lambda w: np.asarray(w).reshape(C, C)  # noqa: E731  (C, H, D) -> (C, H*D)
    ours.attn.c_attn.kernel.assign(np.concatenate([flat(q.kernel), flat(k.kernel), flat(v.kernel)], axis=1))
    ours.attn.c_attn.bias.assign(np.concatenate([np.asarray(d.bias).reshape(C) for d in (q, k, v)]))
    ours.attn.c_proj.kernel.assign(np.asarray(o.kernel).reshape(C, C))  # (H, D, C) -> (H*D, C)
    ours.attn.c_proj.bias.assign(np.asarray(o.bias))
    for mine, other in ((ours.ln_1, theirs._self_attention_layer_norm), (ours.ln_2, theirs._feedforward_layer_norm),
                        (ours.c_fc, theirs._feedforward_intermediate_dense),
                        (ours.c_proj, theirs._feedforward_output_dense)):
        for w_mine, w_other in zip(mine.weights, other.weights):
            w_mine.assign(np.asarray(w_other))


@pytest.mark.parametrize("norm_first", [True, False])
def test_parity_with_keras_hub_transformer_encoder(norm_first):
    theirs = keras_hub.layers.TransformerEncoder(intermediate_dim=64, num_heads=H, dropout=0.0, activation="gelu",
                                                 layer_norm_epsilon=1e-5, normalize_first=norm_first)
    ours = TransformerEncoderBlock(num_heads=H, ffn_dim=64, dropout=0.0, activation="gelu", norm_first=norm_first,
                                   layer_norm_epsilon=1e-5)
    # Give their biases and norms non-default values, so that a wrong mapping cannot pass.
    theirs.build(VECTORS.shape)
    for w in theirs.weights:
        w.assign(RNG.normal(scale=0.3, size=w.shape).astype(np.float32) + (1.0 if "gamma" in w.path else 0.0))
    ours.build(VECTORS.shape)
    copy_keras_hub_weights(ours, theirs)
    mask = TOKENS != 0
    expected = np.asarray(theirs(VECTORS, padding_mask=mask))
    np.testing.assert_allclose(np.asarray(ours(VECTORS, padding_mask=mask)), expected, atol=1e-5)
    assert sum(int(np.prod(w.shape)) for w in ours.weights) == sum(int(np.prod(w.shape)) for w in theirs.weights)


SEP = 2  # the [SEP] id of the pair tokens below


def pair_tokens():
    """`[CLS] a [SEP] b [SEP] [PAD]...` rows (ids 5.. for words), as keras-hub's MultiSegmentPacker packs
    them, with the packer's own segment ids."""
    packer = keras_hub.layers.MultiSegmentPacker(sequence_length=T, start_value=1, end_value=SEP, pad_value=0)
    firsts = [[5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15, 16]]
    seconds = [[17, 18], [19, 20, 21, 22], [23, 24, 25, 26, 27]]  # the last pair is cut (round robin)
    token_ids, segment_ids = packer((tf.ragged.constant(firsts), tf.ragged.constant(seconds)))
    return np.asarray(token_ids), np.asarray(segment_ids)


def test_segment_ids_read_off_the_separators_equal_the_packers():
    token_ids, segment_ids = pair_tokens()
    assert segment_ids.max() == 1 and (token_ids == 0).any()  # both segments and padding are there
    np.testing.assert_array_equal(np.asarray(segment_ids_from_separators(token_ids, SEP, 0)), segment_ids)
    single = TOKENS.copy()  # no [SEP]: one segment
    assert not np.asarray(segment_ids_from_separators(single, SEP, 0)).any()


def test_bert_shaped_encoder_equals_keras_hub_bert_backbone():
    """Post-norm, tanh GELU, epsilon 1e-12, segments: with BERT's weights, ours computes BertBackbone's output
    on sentence pairs, its segment embedding included (random, not held at zero)."""
    theirs = keras_hub.models.BertBackbone(vocabulary_size=V, num_layers=2, num_heads=H, hidden_dim=C,
                                           intermediate_dim=64, dropout=0.0, max_sequence_length=T + 8)
    ours = small_encoder(norm_first=False, activation="gelu_approximate", layer_norm_epsilon=1e-12,
                         initializer_range=0.02, num_segments=2, separator_id=SEP)
    token_ids, segment_ids = pair_tokens()
    ours.build(token_ids.shape)
    for w in theirs.weights:  # non-default biases and norms, so that a wrong mapping cannot pass
        if "embedding" not in w.path:
            w.assign(RNG.normal(scale=0.3, size=w.shape).astype(np.float32) + (1.0 if "gamma" in w.path else 0.0))
    theirs.get_layer("segment_embedding").embeddings.assign(RNG.normal(scale=0.5, size=(2, C)).astype(np.float32))
    ours.embeddings.wte.embeddings.assign(np.asarray(theirs.get_layer("token_embedding").embeddings))
    ours.embeddings.wpe.position_embeddings.assign(
        np.asarray(theirs.get_layer("position_embedding").position_embeddings))
    ours.embeddings.wse.embeddings.assign(np.asarray(theirs.get_layer("segment_embedding").embeddings))
    for w_mine, w_other in zip(ours.norm.weights, theirs.get_layer("embeddings_layer_norm").weights):
        w_mine.assign(np.asarray(w_other))
    for i, block in enumerate(ours.blocks):
        copy_keras_hub_weights(block, theirs.get_layer(f"transformer_layer_{i}"))
    expected = theirs({"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": token_ids != 0})
    np.testing.assert_allclose(np.asarray(ours(token_ids)), np.asarray(expected["sequence_output"]), atol=1e-4)
    # And the exporter's mapping (ours -> BertBackbone) gives the same function back.
    exported = to_bert_backbone(ours)
    again = exported({"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": token_ids != 0})
    np.testing.assert_allclose(np.asarray(again["sequence_output"]), np.asarray(ours(token_ids)), atol=1e-5)


def test_only_an_encoder_wired_as_bert_exports_as_bert():
    with pytest.raises(ValueError, match="norm_first=True.*activation='gelu'.*num_segments=0"):
        to_bert_backbone(built(small_encoder()))


def built(model):
    model.build(TOKENS.shape)
    return model


def test_initializer_range_draws_truncated_normals_and_every_kernel_its_own():
    encoder = small_encoder(initializer_range=0.02, width=64, ffn_dim=256)
    encoder.build(TOKENS.shape)
    kernels = [w for w in encoder.weights if "kernel" in w.path or "embedding" in w.path]
    for w in kernels:
        values = np.asarray(w).ravel()
        assert 0.015 < values.std() < 0.02 and np.abs(values).max() <= 0.04 + 1e-6, w.path  # cut at 2 sigma
    # No two kernels share their random numbers (an unseeded initializer used twice would repeat them).
    firsts = [tuple(np.asarray(w).ravel()[:64]) for w in kernels]
    assert len(set(firsts)) == len(firsts)
    glorot = small_encoder(width=64, ffn_dim=256)
    glorot.build(TOKENS.shape)
    attention = glorot.blocks[0].attn
    head = np.asarray(attention.c_attn.kernel).ravel()[:64 * 64]
    assert abs(np.corrcoef(head, np.asarray(attention.c_proj.kernel).ravel())[0, 1]) < 0.1


# --- sizes and errors --------------------------------------------------------------------------

def test_width_not_divisible_by_heads_says_how_to_fix():
    with pytest.raises(ValueError, match=r"width 100 is not divisible by num_heads 3 .*e\.g\. 99"):
        MultiHeadSelfAttention(num_heads=3).build((None, 8, 100))
    with pytest.raises(ValueError, match="width 130 is not divisible by num_heads 4"):
        small_encoder(width=130)


def test_mixed_bfloat16_keeps_logits_and_softmax_in_float32():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        classifier = TextClassifier(small_encoder(), num_classes=3)
        logits = classifier(TOKENS)
        _, scores = classifier.encoder(TOKENS, return_attention_scores=True)
        assert logits.dtype == "float32" and scores[0].dtype == "float32"
        assert classifier.encoder.blocks[0].c_fc.compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_embedding_padding_mask():
    layer = TokenAndPositionEmbedding(V, T, C, padding_id=0)
    np.testing.assert_array_equal(np.asarray(layer.padding_mask(TOKENS)), TOKENS != 0)
