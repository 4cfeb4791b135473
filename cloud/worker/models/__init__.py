"""The model registry: ``load_classifier(name, device)`` gives a :class:`Classifier`.

The default, ``efficientnet-lite0``, ships its weights and works offline; any torchvision
classification model or timm model with published weights loads them where they can be fetched.
"""

from cloud.worker.models.classifier import Classifier, Prediction
from cloud.worker.models.errors import (
    DeviceUnavailable,
    ModelError,
    ModelUnavailable,
    UnknownModel,
    WeightsMismatch,
)
from cloud.worker.models.registry import DEFAULT_MODEL, load_classifier, resolve

__all__ = [
    "DEFAULT_MODEL",
    "Classifier",
    "DeviceUnavailable",
    "ModelError",
    "ModelUnavailable",
    "Prediction",
    "UnknownModel",
    "WeightsMismatch",
    "load_classifier",
    "resolve",
]
