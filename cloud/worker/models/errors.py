"""What can go wrong when loading a model, each with a message meant for the person running it."""

from __future__ import annotations


class ModelError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


class UnknownModel(ModelError, ValueError):
    """No model of that name in the registry, timm or torchvision."""


class ModelUnavailable(ModelError):
    """The model exists, but its weights cannot be had here (no network, no cache)."""


class DeviceUnavailable(ModelError):
    """The configured device cannot be used on this machine."""


class WeightsMismatch(ModelError):
    """A weights file does not fit the architecture (a different package version?)."""
