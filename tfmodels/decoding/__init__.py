"""Decoding: text from a causal LM — keras-hub's samplers in an XLA-compiled loop over the key/value
cache, the sliding block for continuations longer than the context, and token by token for text shown
as it comes (`streaming.py`)."""
