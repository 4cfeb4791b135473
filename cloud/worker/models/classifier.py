"""The torch engine, the reference: a loaded model with its own preprocessing and class names.

PIL images in, top-5 predictions out. ``imgrec predict --engine torch`` runs it; the exporter compares
the ONNX engine with it, image by image, before it writes a bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

from cloud.worker.models.prediction import Prediction, top_predictions
from cloud.worker.models.preprocess import Preprocessing


def _is_to_tensor(step: Any) -> bool:
    from timm.data.transforms import MaybeToTensor

    return isinstance(step, ToTensor | MaybeToTensor)


def split_transform(transform: Callable) -> tuple[Callable, list[Normalize]] | None:
    """A ``Compose(PIL steps..., ToTensor, Normalize...)`` as (PIL steps, Normalize steps), else None.

    The PIL steps (resize, crop) run per image in the worker's download threads, where Pillow
    releases the interpreter lock; the tensor steps run once per batch on the inference thread.
    Tensor work in many threads at once would start an OpenMP team in each, and those teams fight
    inference for the cores. The arithmetic is the same as the per-image transform, element by element.
    """
    if not isinstance(transform, Compose):
        return None
    steps = list(transform.transforms)
    cut = next((i for i, step in enumerate(steps) if _is_to_tensor(step)), None)
    if cut is None or not all(isinstance(step, Normalize) for step in steps[cut + 1 :]):
        return None
    return Compose(steps[:cut]), steps[cut + 1 :]


def _single_size(size: Any) -> int | None:
    if isinstance(size, int):
        return size
    if isinstance(size, list | tuple) and len(size) == 1 and isinstance(size[0], int):
        return size[0]
    return None


def _pair(size: Any) -> tuple[int, int] | None:
    if isinstance(size, int):
        return size, size
    if isinstance(size, list | tuple) and len(size) in (1, 2) and all(isinstance(v, int) for v in size):
        return (size[0], size[-1])
    return None


def describe_transform(transform: Callable) -> Preprocessing | None:
    """The transform as data (for the torch-free engine), or None when it is not one we can reproduce.

    Two shapes are understood: timm's ``Compose(Resize(int), CenterCrop, ToTensor, Normalize)`` and
    torchvision's ``ImageClassification`` preset (resize, crop, normalize). Anything else (random
    augmentation, resizing to a fixed (h, w), max_size) is refused rather than approximated; the
    exporter's input-tensor check would catch an approximation anyway.
    """
    steps = list(transform.transforms) if isinstance(transform, Compose) else None
    if steps is not None:
        kinds = [type(step) for step in steps]
        if len(steps) != 4 or kinds[0] is not Resize or kinds[1] is not CenterCrop or not _is_to_tensor(steps[2]) \
                or kinds[3] is not Normalize:
            return None
        resize, crop, normalize = steps[0], steps[1], steps[3]
        size, crop_size = _single_size(resize.size), _pair(crop.size)
        if size is None or crop_size is None or resize.max_size is not None or resize.antialias is False:
            return None
        return _preprocessing(size, crop_size, resize.interpolation, normalize.mean, normalize.std)
    if type(transform).__name__ == "ImageClassification":  # torchvision.transforms._presets
        size, crop_size = _single_size(transform.resize_size), _pair(transform.crop_size)
        if size is None or crop_size is None or transform.antialias is False:
            return None
        return _preprocessing(size, crop_size, transform.interpolation, transform.mean, transform.std)
    return None


def _preprocessing(size: int, crop: tuple[int, int], interpolation: InterpolationMode, mean,
                   std) -> Preprocessing | None:
    mean, std = [float(v) for v in torch.as_tensor(mean).flatten()], [float(v) for v in torch.as_tensor(std).flatten()]
    if len(mean) != 3 or len(std) != 3:
        return None
    try:
        return Preprocessing(resize=size, crop=crop, interpolation=InterpolationMode(interpolation).value,
                             mean=tuple(mean), std=tuple(std))
    except ValueError:
        return None


class Classifier:
    """Load once, classify many. ``classify`` takes a batch; preprocessing is the model's own.

    ``transform`` is the model's whole preprocessing (PIL image -> tensor). The worker splits it:
    ``prepare`` (per image, any thread) then ``classify_prepared`` (per batch), which is also what
    ``classify`` does, so every path gives the same numbers.
    """

    def __init__(
        self,
        name: str,
        model: torch.nn.Module,
        transform: Callable[[Image.Image], torch.Tensor],
        labels: Sequence[str],
        device: torch.device,
    ):
        self.name = name
        self.device = device
        self.transform = transform
        self.labels = tuple(labels)
        self.preprocessing = describe_transform(transform)  # None: this model cannot be exported
        self._split = split_transform(transform)
        self._memory_format = torch.channels_last  # faster convolutions, on CPU (oneDNN) and CUDA alike
        self.model = model.eval().to(device=device, memory_format=self._memory_format)

    engine = "torch"

    def prepare(self, image: Image.Image) -> Image.Image | torch.Tensor:
        """Per-image preprocessing that is safe and cheap to run in many threads."""
        return self._split[0](image) if self._split else self.transform(image)

    def classify(self, images: Sequence[Image.Image]) -> list[Prediction]:
        return self.classify_prepared([self.prepare(image) for image in images])

    def classify_prepared(self, prepared: Sequence[Image.Image | torch.Tensor]) -> list[Prediction]:
        if not prepared:
            return []
        return top_predictions(self.probabilities(self._batch(prepared)), self.labels)

    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        """Softmax of the model's output for an NCHW batch (moved to the device and the model's memory
        format here: the one place that does it)."""
        with torch.inference_mode():
            logits = self.model(batch.contiguous(memory_format=self._memory_format).to(self.device))
            return logits.float().softmax(dim=-1).cpu().numpy().astype(np.float64)

    def _batch(self, prepared: Sequence[Image.Image | torch.Tensor]) -> torch.Tensor:
        if self._split and isinstance(prepared[0], Image.Image):
            # ToTensor and Normalize, once for the batch: NHWC uint8 -> NCHW float (channels-last already).
            pixels = torch.from_numpy(np.stack([np.asarray(image.convert("RGB")) for image in prepared]))
            batch = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div(255)
            for normalize in self._split[1]:
                batch = normalize(batch)
        else:
            batch = torch.stack(list(prepared)).to(self.device, non_blocking=True)
        return batch

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, device={self.device})"
