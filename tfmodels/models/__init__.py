"""Models: Keras subclasses, registered for `.keras` serialization under the package "tfmodels"."""

from tfmodels.models.factory import build_model
from tfmodels.models.mlp import MLPClassifier

__all__ = ["MLPClassifier", "build_model"]
