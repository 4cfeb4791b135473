"""Which model a name means: the shipped default, a torchvision classifier, or a timm model.

A name may carry its library explicitly (``torchvision:resnet18``, ``timm:resnet18.a1_in1k``);
otherwise torchvision is asked first (``resnet18`` is the original system's model), then timm.
"""

from __future__ import annotations

import difflib
import logging
import time

from cloud.worker.models import pretrained, shipped
from cloud.worker.models.classifier import Classifier
from cloud.worker.models.device import resolve_device
from cloud.worker.models.errors import UnknownModel

DEFAULT_MODEL = shipped.NAME
SOURCES = ("shipped", "torchvision", "timm")

log = logging.getLogger(__name__)


def _torchvision_names() -> list[str]:
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve(name: str) -> tuple[str, str]:
    """(source, name within that source) for a model name, or UnknownModel listing what exists."""
    source, _, bare = name.partition(":") if ":" in name else ("", "", name)
    if source and source not in SOURCES[1:]:
        raise UnknownModel(f"unknown model source {source!r} in {name!r}: use torchvision: or timm:")
    if not source and bare == shipped.NAME:
        return "shipped", bare
    if source in ("", "torchvision") and bare in _torchvision_names():
        return "torchvision", bare
    if source in ("", "timm"):
        import timm

        if timm.is_model(bare):
            return "timm", bare
    raise UnknownModel(_unknown_message(name, bare))


def _unknown_message(name: str, bare: str) -> str:
    import timm

    candidates = list(dict.fromkeys([shipped.NAME, *_torchvision_names(), *timm.list_models()]))
    close = difflib.get_close_matches(bare, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"unknown model {name!r}. Available: {shipped.NAME} (the default; its weights ship with it, "
        f"so it works offline); any torchvision classification model (e.g. resnet18, mobilenet_v3_large, "
        f"efficientnet_b0); any timm model with pretrained weights (e.g. resnet50.a1_in1k; see "
        f"timm.list_models(pretrained=True)). Other models download their weights on first use.{hint}"
    )


def load_classifier(name: str = DEFAULT_MODEL, device: str = "auto") -> Classifier:
    """Loads a model once, ready to classify. Raises a ModelError with a clear message otherwise."""
    source, bare = resolve(name)
    target = resolve_device(device)
    started = time.monotonic()
    if source == "shipped":
        classifier = shipped.load(target)
    elif source == "torchvision":
        classifier = pretrained.load_torchvision(bare, target)
    else:
        classifier = pretrained.load_timm(bare, target)
    log.info("loaded %s on %s in %.1f s", classifier.name, classifier.device, time.monotonic() - started)
    return classifier
