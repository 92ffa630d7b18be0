"""Data: spec strings, loaders that check what they read, and tf.data pipelines."""
