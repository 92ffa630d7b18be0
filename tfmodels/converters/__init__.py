"""Converters: models to and from other formats — published checkpoints in (keras-hub presets, Hugging
Face folders: `presets.py`), our encoder and GPT out as keras-hub's BERT and GPT-2 backbones."""
