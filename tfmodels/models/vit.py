"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), in the paper's names.

    pixels (B, H, W[, C]) in [0, 1] -> per-channel normalisation
      -> patch embedding: each P x P patch's pixels, linearly mapped to D (a P x P convolution of stride P)
      -> [class]; x_p^1 E; ...; x_p^N E] + E_pos        (B, N + 1, D)   (equation 1)
      -> L encoder blocks (the house's `TransformerEncoderBlock`, pre-norm)      (equations 2-3)
      -> LN, then z_L^0 (the class token) or the mean of the patch vectors -> logits (B, num_classes)
"""

from __future__ import annotations

import keras
from keras import ops

from tfmodels.layers.encoder_block import TransformerEncoderBlock
from tfmodels.models.image_input import ChannelsInput


@keras.saving.register_keras_serializable(package="tfmodels")
class VisionTransformer(ChannelsInput, keras.Model):
    """Image classifier over patch tokens.

    Args:
        num_classes: number of classes.
        image_size: (height, width) of the images; `patch_size` must divide both.
        patch_size: P, the side of a square patch.
        width: D, the token width (a multiple of num_heads).
        num_layers, num_heads, ffn_dim, dropout: the encoder blocks'.
        pooling: "class_token" (the paper's) or "mean" (the mean of the patch vectors).
    Call `adapt(x)` on the training pixels to set the per-channel mean and variance before training.
    """

    def __init__(self, num_classes, image_size, patch_size=4, width=128, num_layers=6, num_heads=4, ffn_dim=256,
                 dropout=0.1, pooling="class_token", **kwargs):
        super().__init__(**kwargs)
        height, width_px = (int(s) for s in image_size)
        if height % patch_size or width_px % patch_size:
            raise ValueError(f"patch_size {patch_size} does not divide the image size {height}x{width_px}")
        if pooling not in ("class_token", "mean"):
            raise ValueError(f"pooling must be 'class_token' or 'mean', got {pooling!r}")
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}")
        self.num_classes = int(num_classes)
        self.image_size = (height, width_px)
        self.patch_size = int(patch_size)
        self.width = int(width)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.ffn_dim = int(ffn_dim)
        self.dropout = float(dropout)
        self.pooling = pooling
        self.num_patches = (height // patch_size) * (width_px // patch_size)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.grey = len(input_shape) == 3
        image_shape = (*input_shape, 1) if self.grey else tuple(input_shape)
        D = self.width
        self.input_norm = keras.layers.Normalization(axis=-1, dtype=policy, name="input_norm")
        self.input_norm.build(image_shape)
        self.patch_embedding = keras.layers.Conv2D(D, self.patch_size, strides=self.patch_size, dtype=policy,
                                                   name="patch_embedding")  # E: a linear map of each patch
        self.patch_embedding.build(image_shape)
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(1, 1, D), initializer="zeros", name="class_token")
        self.position_embedding = self.add_weight(shape=(1, self.num_patches + 1, D), initializer=initializer,
                                                  name="position_embedding")  # E_pos
        self.embedding_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="embedding_dropout")
        self.blocks = []
        for i in range(self.num_layers):
            block = TransformerEncoderBlock(self.num_heads, self.ffn_dim, dropout=self.dropout, activation="gelu",
                                            norm_first=True, layer_norm_epsilon=1e-6, dtype=policy, name=f"block_{i}")
            block.build((None, self.num_patches + 1, D))
            self.blocks.append(block)
        self.ln_f = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="ln_f")
        self.ln_f.build((None, D))
        self.logits = keras.layers.Dense(self.num_classes, dtype="float32", name="logits")
        self.logits.build((None, D))
        self.built = True

    def tokens(self, pixels, training=False):
        """The encoder's input: the class token and the patch embeddings plus positions, `(B, N + 1, D)`."""
        x = self.channels_last(pixels)  # (B, H, W, C)
        patches = self.patch_embedding(self.input_norm(x))  # (B, H/P, W/P, D)
        patches = ops.reshape(patches, (-1, self.num_patches, self.width))  # (B, N, D)
        cls = ops.broadcast_to(ops.cast(self.class_token, patches.dtype), (ops.shape(patches)[0], 1, self.width))
        z = ops.concatenate([cls, patches], axis=1) + ops.cast(self.position_embedding, patches.dtype)  # (B, N+1, D)
        return self.embedding_dropout(z, training=training)

    def call(self, pixels, training=False, return_attention_scores=False):
        z = self.tokens(pixels, training=training)  # (B, N + 1, D)
        scores = []
        for block in self.blocks:
            z, attention = block(z, training=training, return_attention_scores=True)  # (B, N+1, D), (B, nh, N+1, N+1)
            scores.append(attention)
        z = self.ln_f(z)
        pooled = z[:, 0] if self.pooling == "class_token" else ops.mean(z[:, 1:], axis=1)  # (B, D)
        logits = self.logits(pooled)  # (B, num_classes)
        return (logits, scores) if return_attention_scores else logits

    def attention_scores(self, pixels):
        """Each block's attention weights, `(B, heads, N + 1, N + 1)` (token 0 the class token), for inspection."""
        return self(pixels, training=False, return_attention_scores=True)[1]

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "image_size": list(self.image_size),
                       "patch_size": self.patch_size, "width": self.width, "num_layers": self.num_layers,
                       "num_heads": self.num_heads, "ffn_dim": self.ffn_dim, "dropout": self.dropout,
                       "pooling": self.pooling})
        return config
