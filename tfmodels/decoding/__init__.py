"""Decoding: text from a causal LM — keras-hub's samplers in an XLA-compiled loop over the key/value
cache, and the sliding block for continuations longer than the context."""
