"""The image models beside the MLP: the ResNet (He et al. 2016) and the Vision Transformer (Dosovitskiy et al.
2021), each through the shared battery with pinned parameter counts, and what makes each what it is."""

import keras
import numpy as np
import pytest
from helpers import run_layer_test

from tfmodels.config import ModelConfig, apply_overrides, shipped_config
from tfmodels.models import ResNet, VisionTransformer, build_image_model

RNG = np.random.default_rng(0)
COLOUR = RNG.random((4, 16, 16, 3), dtype=np.float32)
GREY = RNG.random((4, 8, 8), dtype=np.float32)
LABELS = np.array([0, 1, 2, 1])


def conv(k, c_in, c_out):
    return k * k * c_in * c_out


@pytest.mark.parametrize("images, kwargs, trainable, params", [
    # stem conv + BN (gamma, beta); stage 1: a block of two convs + two BNs; stage 2: the same at 16 channels with a
    # strided 1x1 shortcut + BN; the logits.
    (COLOUR, {"widths": [8, 16], "blocks_per_stage": 1}, 3 + 6 + 9 + 2,
     conv(3, 3, 8) + 16 + (2 * conv(3, 8, 8) + 32) + (conv(3, 8, 16) + conv(3, 16, 16) + 64 + conv(1, 8, 16) + 32)
     + (16 * 3 + 3)),
    (GREY, {"widths": [4], "blocks_per_stage": 2, "dropout": 0.2}, 3 + 2 * 6 + 2,
     conv(3, 1, 4) + 8 + 2 * (2 * conv(3, 4, 4) + 16) + (4 * 3 + 3)),
])
def test_resnet_battery(images, kwargs, trainable, params, tmp_path):
    run_layer_test(ResNet, {"num_classes": 3, **kwargs}, images, (4, 3), trainable, tmp_path,
                   expected_num_params=params, targets=LABELS, prepare=lambda m: m.adapt(images),
                   output_dtype="float32")


@pytest.mark.parametrize("images, kwargs", [
    (COLOUR, {"image_size": (16, 16), "patch_size": 4, "width": 16, "num_layers": 2, "num_heads": 2, "ffn_dim": 32}),
    (GREY, {"image_size": (8, 8), "patch_size": 2, "width": 8, "num_layers": 1, "num_heads": 2, "ffn_dim": 8,
            "pooling": "mean"}),
])
def test_vit_battery(images, kwargs, tmp_path):
    D, F, L = kwargs["width"], kwargs["ffn_dim"], kwargs["num_layers"]
    channels = images.shape[-1] if images.ndim == 4 else 1
    P, N = kwargs["patch_size"], (images.shape[1] // kwargs["patch_size"]) ** 2
    block = 2 * 2 * D + (4 * D * D + 4 * D) + (D * F + F) + (F * D + D)  # two LNs, q/k/v/o, the feed-forward pair
    params = (P * P * channels * D + D) + D + (N + 1) * D + L * block + 2 * D + (D * 3 + 3)  # E, class, E_pos, LN, logits
    run_layer_test(VisionTransformer, {"num_classes": 3, **kwargs}, images, (4, 3), 2 + 2 + L * 12 + 2 + 2, tmp_path,
                   expected_num_params=params, targets=LABELS, prepare=lambda m: m.adapt(images), output_dtype="float32")


def test_resnet20_is_6n_plus_2_layers_and_its_parameter_count_is_pinned():
    config = shipped_config("cnn_cifar10").model  # widths 16/32/64, n = 3: ResNet-20
    model = build_image_model(config, COLOUR[:, :, :, :].repeat(2, 1).repeat(2, 2), num_classes=10)
    weight_layers = [layer for layer in model._flatten_layers() if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
                     and layer.name != "shortcut"]
    assert len(weight_layers) == 6 * 3 + 2
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 272_474  # the paper's "0.27M" (its Table 6), with two 1x1 projection shortcuts (option B)


def test_vit_of_the_cifar_config_is_pinned_and_sees_65_tokens():
    model = build_image_model(shipped_config("vit_cifar10").model, np.zeros((2, 32, 32, 3), np.float32), num_classes=10)
    assert model.num_patches == 64
    scores = model.attention_scores(COLOUR.repeat(2, 1).repeat(2, 2)[:2])
    assert len(scores) == 6 and tuple(scores[0].shape) == (2, 4, 65, 65)
    np.testing.assert_allclose(np.sum(scores[-1], axis=-1), 1.0, atol=1e-5)  # rows of attention weights
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 811_146


def test_the_vit_input_is_the_class_token_then_the_patches_with_positions():
    """Equation 1: z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos, the class token learnt from zero."""
    model = VisionTransformer(3, (16, 16), patch_size=4, width=16, num_layers=1, num_heads=2, ffn_dim=16, dropout=0.0)
    model.build((None, 16, 16, 3))
    tokens = model.tokens(COLOUR)
    assert tuple(tokens.shape) == (4, 17, 16)
    np.testing.assert_allclose(np.asarray(tokens[:, 0]), np.broadcast_to(np.asarray(model.position_embedding[0, 0]), (4, 16)),
                               atol=1e-6)  # the class token starts at zero: its input is its position alone
    patches = model.patch_embedding(model.input_norm(COLOUR)).numpy().reshape(4, 16, 16)  # (B, N, D), row-major patches
    np.testing.assert_allclose(np.asarray(tokens[:, 1:]), patches + np.asarray(model.position_embedding[0, 1:]), atol=1e-5)
    first_patch = model.input_norm(COLOUR).numpy()[:, :4, :4, :].reshape(4, -1)  # pixels of the top-left 4x4 patch
    kernel = np.asarray(model.patch_embedding.kernel).reshape(-1, 16)  # E: (P * P * C, D)
    np.testing.assert_allclose(patches[:, 0], first_patch @ kernel + np.asarray(model.patch_embedding.bias), atol=1e-4)


def test_patch_size_must_divide_the_image():
    with pytest.raises(ValueError, match="patch_size 5 does not divide the image size 16x16"):
        VisionTransformer(3, (16, 16), patch_size=5)


def test_resnet_downsamples_once_a_stage_and_pools_globally():
    model = ResNet(3, widths=[4, 8, 16], blocks_per_stage=1)
    model.build((None, 16, 16, 3))
    h = model.stem(COLOUR)
    sizes = []
    for block in model.blocks:
        h = block(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes == [(16, 16, 4), (8, 8, 8), (4, 4, 16)]
    assert [b.projects for b in model.blocks] == [False, True, True]


def test_image_models_keep_float32_logits_under_bfloat16():
    for overrides in (["model.type=cnn", "model.cnn.widths=[4]", "model.cnn.blocks_per_stage=1"],
                      ["model.type=vit", "model.vit.width=8", "model.vit.num_heads=2", "model.vit.num_layers=1",
                       "model.vit.patch_size=4"]):
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = build_image_model(apply_overrides_model(overrides), COLOUR, num_classes=3)
            assert model(COLOUR).dtype == "float32"
            assert model.compute_dtype == "bfloat16"
        finally:
            keras.config.set_dtype_policy("float32")


def apply_overrides_model(overrides) -> ModelConfig:
    from tfmodels.config import demo_config

    return apply_overrides(demo_config(), overrides).model
