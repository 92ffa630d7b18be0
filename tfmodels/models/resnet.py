"""ResNet for small images (He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2).

    pixels (B, H, W[, C]) in [0, 1] -> per-channel normalisation -> conv 3x3 -> BN -> ReLU
      -> stage 1 .. S, each `blocks_per_stage` residual blocks; the first block of stage s > 1 halves H and W
      -> global average pooling -> (dropout) -> logits (B, num_classes)

A residual block: y = ReLU(x + BN(conv3x3(ReLU(BN(conv3x3(x)))))); where the shape changes, the shortcut
is a strided 1x1 convolution with batch norm (the paper's option B). With widths (16, 32, 64) and n blocks a
stage the network has 6n + 2 weight layers: n = 3 is ResNet-20, n = 5 ResNet-32.
"""

from __future__ import annotations

import keras
from keras import ops

from tfmodels.models.image_input import ChannelsInput

# The moving statistics' decay (PyTorch's 0.1 update): Keras's 0.99 lags for hundreds of steps, so a short run
# would validate on statistics of its first batches.
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="tfmodels")
class ResidualBlock(keras.layers.Layer):
    """Two 3x3 convolutions with batch norm and a shortcut: `(B, H, W, C_in) -> (B, H/stride, W/stride, filters)`."""

    def __init__(self, filters, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def build(self, input_shape):
        policy, f = self.dtype_policy, self.filters
        conv = lambda size, stride, name: keras.layers.Conv2D(  # noqa: E731
            f, size, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal", dtype=policy,
            name=name)
        norm = lambda name: keras.layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name=name)  # noqa: E731
        self.conv_1, self.bn_1 = conv(3, self.stride, "conv_1"), norm("bn_1")
        self.conv_2, self.bn_2 = conv(3, 1, "conv_2"), norm("bn_2")
        self.projects = self.stride != 1 or int(input_shape[-1]) != f
        self.conv_1.build(input_shape)
        inner = (input_shape[0], None, None, f)
        self.bn_1.build(inner)
        self.conv_2.build(inner)
        self.bn_2.build(inner)
        if self.projects:
            self.shortcut = conv(1, self.stride, "shortcut")
            self.shortcut_bn = norm("shortcut_bn")
            self.shortcut.build(input_shape)
            self.shortcut_bn.build(inner)
        self.built = True

    def call(self, x, training=False):
        h = ops.relu(self.bn_1(self.conv_1(x), training=training))  # (B, H', W', F)
        h = self.bn_2(self.conv_2(h), training=training)  # (B, H', W', F)
        shortcut = self.shortcut_bn(self.shortcut(x), training=training) if self.projects else x
        return ops.relu(h + shortcut)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "stride": self.stride})
        return config


@keras.saving.register_keras_serializable(package="tfmodels")
class ResNet(ChannelsInput, keras.Model):
    """A CIFAR-style ResNet image classifier returning class logits.

    Args:
        num_classes: number of classes.
        widths: channels of each stage (the paper's 16, 32, 64).
        blocks_per_stage: residual blocks a stage (n; 6n + 2 layers).
        dropout: dropout before the logits (0 in the paper).
    Call `adapt(x)` on the training pixels to set the per-channel mean and variance before training.
    """

    def __init__(self, num_classes, widths=(16, 32, 64), blocks_per_stage=3, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if not widths or any(int(w) < 1 for w in widths) or blocks_per_stage < 1:
            raise ValueError(f"widths must be positive channel counts and blocks_per_stage at least 1, got "
                             f"{list(widths)} and {blocks_per_stage}")
        self.num_classes = int(num_classes)
        self.widths = [int(w) for w in widths]
        self.blocks_per_stage = int(blocks_per_stage)
        self.dropout = float(dropout)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.grey = len(input_shape) == 3  # (B, H, W): one channel, added in call
        image_shape = (*input_shape, 1) if self.grey else tuple(input_shape)
        self.input_norm = keras.layers.Normalization(axis=-1, dtype=policy, name="input_norm")  # per channel
        self.input_norm.build(image_shape)
        self.stem = keras.layers.Conv2D(self.widths[0], 3, padding="same", use_bias=False,
                                        kernel_initializer="he_normal", dtype=policy, name="stem")
        self.stem.build(image_shape)
        self.stem_bn = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name="stem_bn")
        self.stem_bn.build((None, None, None, self.widths[0]))
        self.blocks = []
        width = self.widths[0]
        for s, filters in enumerate(self.widths):
            for b in range(self.blocks_per_stage):
                block = ResidualBlock(filters, stride=2 if s > 0 and b == 0 else 1, dtype=policy,
                                      name=f"stage_{s + 1}_block_{b + 1}")
                block.build((None, None, None, width))
                self.blocks.append(block)
                width = filters
        self.pool = keras.layers.GlobalAveragePooling2D(dtype=policy, name="pool")
        self.head_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="head_dropout")
        self.logits = keras.layers.Dense(self.num_classes, dtype="float32", name="logits")  # exact for the loss
        self.logits.build((None, width))
        self.built = True

    def call(self, pixels, training=False):
        x = self.channels_last(pixels)  # (B, H, W, C)
        h = ops.relu(self.stem_bn(self.stem(self.input_norm(x)), training=training))  # (B, H, W, widths[0])
        for block in self.blocks:
            h = block(h, training=training)  # (B, H / 2^s, W / 2^s, widths[s])
        h = self.pool(h)  # (B, widths[-1])
        return self.logits(self.head_dropout(h, training=training))  # (B, num_classes)

    @property
    def first_filters(self):
        """The stem's 3x3 kernels, `(3, 3, C, widths[0])`: what the first layer looks for."""
        return self.stem.kernel

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "widths": list(self.widths),
                       "blocks_per_stage": self.blocks_per_stage, "dropout": self.dropout})
        return config
