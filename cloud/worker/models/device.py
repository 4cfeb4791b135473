"""Where inference runs: CUDA when available (or asked for), the CPU otherwise, with a sensible thread count."""

from __future__ import annotations

import os

import torch

from cloud.worker.models.errors import DeviceUnavailable

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(preference: str = "auto") -> torch.device:
    if preference not in DEVICE_CHOICES:
        raise DeviceUnavailable(f"device {preference!r}: must be one of {', '.join(DEVICE_CHOICES)}")
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DeviceUnavailable("device 'cuda' was asked for, but CUDA is not available on this machine")
        return torch.device("cuda")
    configure_cpu_threads()
    return torch.device("cpu")


def configure_cpu_threads() -> int:
    """One intra-op thread per CPU this process may run on, unless OMP_NUM_THREADS says otherwise.

    A supervisor that runs several workers on one machine sets OMP_NUM_THREADS for each, so that
    they do not oversubscribe the cores between them.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    torch.set_num_threads(max(1, cpus))
    return torch.get_num_threads()
