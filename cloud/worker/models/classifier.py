"""A loaded model with its own preprocessing and class names: PIL images in, top-5 predictions out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import Compose, Normalize, ToTensor

TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # softmax probability of the label
    top5: tuple[tuple[str, float], ...]  # (label, probability), best first; top5[0] is (label, score)


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
        self._split = split_transform(transform)
        self._memory_format = torch.channels_last  # faster convolutions, on CPU (oneDNN) and CUDA alike
        self._model = model.eval().to(device=device, memory_format=self._memory_format)

    def prepare(self, image: Image.Image) -> Image.Image | torch.Tensor:
        """Per-image preprocessing that is safe and cheap to run in many threads."""
        return self._split[0](image) if self._split else self.transform(image)

    def classify(self, images: Sequence[Image.Image]) -> list[Prediction]:
        return self.classify_prepared([self.prepare(image) for image in images])

    def classify_prepared(self, prepared: Sequence[Image.Image | torch.Tensor]) -> list[Prediction]:
        if not prepared:
            return []
        with torch.inference_mode():
            probabilities = self._model(self._batch(prepared)).float().softmax(dim=-1)
            scores, indices = probabilities.topk(min(TOP_K, probabilities.shape[-1]), dim=-1)
            scores, indices = scores.cpu().tolist(), indices.cpu().tolist()
        predictions = []
        for row_scores, row_indices in zip(scores, indices, strict=True):
            top5 = tuple((self.labels[i], float(s)) for i, s in zip(row_indices, row_scores, strict=True))
            predictions.append(Prediction(label=top5[0][0], score=top5[0][1], top5=top5))
        return predictions

    def _batch(self, prepared: Sequence[Image.Image | torch.Tensor]) -> torch.Tensor:
        if self._split and isinstance(prepared[0], Image.Image):
            # ToTensor and Normalize, once for the batch: NHWC uint8 -> NCHW float (channels-last already).
            pixels = torch.from_numpy(np.stack([np.asarray(image.convert("RGB")) for image in prepared]))
            batch = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div(255)
            for normalize in self._split[1]:
                batch = normalize(batch)
        else:
            batch = torch.stack(list(prepared)).to(self.device, non_blocking=True)
        return batch.contiguous(memory_format=self._memory_format)

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, device={self.device})"
