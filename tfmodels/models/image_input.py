"""What the convolutional and attention image models share at their input: pixels `(B, H, W)` (grey) or
`(B, H, W, C)` in [0, 1], a channel axis added to grey ones, and a per-channel normalisation (`input_norm`, a
Keras `Normalization` the model builds) adapted to the training pixels and saved with the model."""

from __future__ import annotations

from keras import ops


class ChannelsInput:
    """Mixin of `ResNet` and `VisionTransformer` (listed first among a Keras model's bases); the model's `build`
    sets `self.grey` and `self.input_norm`."""

    grey = False

    def adapt(self, x):
        """Per-channel mean and variance of the training pixels `x` (N, H, W[, C])."""
        if not self.built:
            self.build((None, *x.shape[1:]))
        self.input_norm.adapt(self.channels_last(ops.convert_to_numpy(x)))

    def channels_last(self, pixels):
        return pixels[..., None] if self.grey else pixels  # (B, H, W, C)
