"""What a classifier answers, and the one way every engine turns scores into it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # softmax probability of the label
    top5: tuple[tuple[str, float], ...]  # (label, probability), best first; top5[0] is (label, score)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_predictions(probabilities: np.ndarray, labels: Sequence[str], k: int = TOP_K) -> list[Prediction]:
    """One Prediction per row of an (N, classes) array of probabilities; ties keep the lower index first."""
    k = min(k, probabilities.shape[-1])
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    predictions = []
    for row, indices in zip(probabilities, order, strict=True):
        top = tuple((labels[i], float(row[i])) for i in indices)
        predictions.append(Prediction(label=top[0][0], score=top[0][1], top5=top))
    return predictions
