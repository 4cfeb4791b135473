"""A loaded model with its own preprocessing and class names: PIL images in, top-5 predictions out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # softmax probability of the label
    top5: tuple[tuple[str, float], ...]  # (label, probability), best first; top5[0] is (label, score)


class Classifier:
    """Load once, classify many. ``classify`` takes a batch; preprocessing is the model's own.

    The worker calls ``transform`` in its download threads and ``classify_tensors`` on the batch,
    so that preprocessing overlaps inference; ``classify`` does both, for everyone else.
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
        memory_format = torch.channels_last  # faster convolutions, on CPU (oneDNN) and CUDA alike
        self._memory_format = memory_format
        self._model = model.eval().to(device=device, memory_format=memory_format)

    def classify(self, images: Sequence[Image.Image]) -> list[Prediction]:
        return self.classify_tensors([self.transform(image) for image in images])

    def classify_tensors(self, tensors: Sequence[torch.Tensor]) -> list[Prediction]:
        if not tensors:
            return []
        with torch.inference_mode():
            batch = torch.stack(list(tensors)).to(self.device, memory_format=self._memory_format,
                                                  non_blocking=True)
            probabilities = self._model(batch).float().softmax(dim=-1)
            scores, indices = probabilities.topk(min(TOP_K, probabilities.shape[-1]), dim=-1)
            scores, indices = scores.cpu().tolist(), indices.cpu().tolist()
        predictions = []
        for row_scores, row_indices in zip(scores, indices, strict=True):
            top5 = tuple((self.labels[i], float(s)) for i, s in zip(row_indices, row_scores, strict=True))
            predictions.append(Prediction(label=top5[0][0], score=top5[0][1], top5=top5))
        return predictions

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, device={self.device})"
