"""Transforms: what changes a built model — LoRA adapters (added, merged, saved on their own),
post-training quantization, and magnitude pruning."""
