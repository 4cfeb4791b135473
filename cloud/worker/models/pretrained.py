"""Any other timm or torchvision classifier, with its published pretrained weights.

Weights already in the local cache (Hugging Face hub cache, torch hub checkpoints) load with no
network. Otherwise the weights host is probed first with a short timeout, so that a machine with no
network fails within seconds with a clear message instead of hanging in a download. Set
``IMGREC_OFFLINE=1`` (or the Hugging Face convention ``HF_HUB_OFFLINE=1``) to never try the network.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

import torch

from cloud.worker.models import labels
from cloud.worker.models.classifier import Classifier
from cloud.worker.models.errors import ModelUnavailable
from cloud.worker.models.shipped import NAME as SHIPPED_NAME

PROBE_TIMEOUT_SECONDS = 3.0
OFFLINE_ENV = ("IMGREC_OFFLINE", "HF_HUB_OFFLINE")
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


# --- torchvision ---------------------------------------------------------------------------
def load_torchvision(name: str, device: torch.device) -> Classifier:
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    if not os.path.isfile(_torch_hub_cached_path(weights.url)):
        _require_network(name, weights.url)
    try:
        model = models.get_model(name, weights=weights)
    except Exception as exc:  # noqa: BLE001 - any download or load failure means the same to the user
        raise ModelUnavailable(f"could not fetch weights for {name}: {exc}") from exc
    return Classifier(name, model, weights.transforms(), weights.meta["categories"], device)


# --- timm ------------------------------------------------------------------------------------
def load_timm(name: str, device: torch.device) -> Classifier:
    import timm
    from timm.data import create_transform, resolve_data_config

    if not timm.is_model_pretrained(name):
        raise ModelUnavailable(f"timm publishes no pretrained weights for {name}")
    pretrained_cfg = timm.models.get_pretrained_cfg(name)
    cached = _timm_cached_file(pretrained_cfg)
    if cached is None:
        url = pretrained_cfg.url if not pretrained_cfg.hf_hub_id else os.environ.get(
            "HF_ENDPOINT", "https://huggingface.co")
        _require_network(name, url)
    try:
        model = timm.create_model(name, pretrained=True,
                                  pretrained_cfg_overlay={"file": cached} if cached else None)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailable(f"could not fetch weights for {name}: {exc}") from exc
    transform = create_transform(**resolve_data_config({}, model=model))
    return Classifier(name, model, transform, labels.for_timm_model(model), device)


def _timm_cached_file(pretrained_cfg) -> str | None:
    if pretrained_cfg.file and os.path.isfile(pretrained_cfg.file):
        return pretrained_cfg.file
    if pretrained_cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in (pretrained_cfg.hf_hub_filename,) if pretrained_cfg.hf_hub_filename else _HF_WEIGHT_FILES:
            path = try_to_load_from_cache(pretrained_cfg.hf_hub_id, filename)
            if isinstance(path, str):
                return path
    if pretrained_cfg.url and os.path.isfile(_torch_hub_cached_path(pretrained_cfg.url)):
        return _torch_hub_cached_path(pretrained_cfg.url)
    return None


# --- network ---------------------------------------------------------------------------------
def _torch_hub_cached_path(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _require_network(name: str, url: str) -> None:
    why = f"only {SHIPPED_NAME} ships its weights"
    for var in OFFLINE_ENV:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            raise ModelUnavailable(f"could not fetch weights for {name}: no network ({var} is set); {why}")
    if not reachable(urlparse(url).hostname or "", 443):
        raise ModelUnavailable(f"could not fetch weights for {name}: no network; {why}")


def reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to host:port opens within ``timeout`` seconds, name lookup included.

    The lookup runs in a daemon thread: getaddrinfo has no timeout of its own and can hang for long
    on a machine with a broken resolver.
    """
    if not host:
        return False
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, name="weights-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])
