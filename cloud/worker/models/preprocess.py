"""A model's preprocessing, spelled out as data and carried out with Pillow and numpy (no torch).

The exporter reads it off the torch transform (``cloud.worker.models.export``), the bundle's sidecar
stores it, and the ONNX engine applies it. It reproduces torchvision's ``Resize(int)`` (the shorter
side to ``resize``, the longer scaled and truncated, Pillow's resampling), ``CenterCrop`` (padding with
zeros when the image is smaller), ``ToTensor`` and ``Normalize``: the same input tensor as the torch
transform, which the exporter checks before it writes a bundle.

Two steps, as in the worker: :meth:`Preprocessing.prepare` per image (Pillow; it releases the
interpreter lock, so download threads run it side by side) and :meth:`Preprocessing.to_batch` once
per batch (one numpy pass on the inference thread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    resize: int  # the shorter side after resizing, in pixels
    crop: tuple[int, int]  # (height, width) of the centre crop: the model's input
    interpolation: str  # one of INTERPOLATIONS
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r}: must be one of {', '.join(INTERPOLATIONS)}")
        if self.resize < 1 or min(self.crop) < 1 or len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"not a usable preprocessing: {self}")

    # --- per image ---------------------------------------------------------------------------
    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize step: torchvision's arithmetic for ``Resize(int)``."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.resize, int(self.resize * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)

    def prepare(self, image: Image.Image) -> Image.Image:
        """An RGB image, resized and centre-cropped to the model's input size."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        size = self.resized_size(*image.size)
        if size != image.size:
            image = image.resize(size, INTERPOLATIONS[self.interpolation])
        return _center_crop(image, self.crop)

    # --- per batch ---------------------------------------------------------------------------
    def to_batch(self, prepared: Sequence[Image.Image]) -> np.ndarray:
        """NCHW float32, scaled to [0, 1] and normalized, as ``ToTensor`` then ``Normalize`` do."""
        pixels = np.stack([np.asarray(image, dtype=np.uint8) for image in prepared])  # NHWC
        batch = pixels.astype(np.float32) / np.float32(255)
        batch -= np.asarray(self.mean, dtype=np.float32)
        batch /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def __call__(self, image: Image.Image) -> np.ndarray:
        """One image's input tensor (CHW)."""
        return self.to_batch([self.prepare(image)])[0]

    # --- as data -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "crop": list(self.crop), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        try:
            return cls(resize=int(data["resize"]), crop=(int(data["crop"][0]), int(data["crop"][1])),
                       interpolation=str(data["interpolation"]),
                       mean=tuple(float(v) for v in data["mean"]), std=tuple(float(v) for v in data["std"]))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"not a preprocessing description: {exc}") from None


def _center_crop(image: Image.Image, crop: tuple[int, int]) -> Image.Image:
    """torchvision's ``center_crop`` on a PIL image: pad with zeros if smaller, then crop the middle."""
    crop_h, crop_w = crop
    width, height = image.size
    if crop_w > width or crop_h > height:
        left, top = (crop_w - width) // 2 if crop_w > width else 0, (crop_h - height) // 2 if crop_h > height else 0
        padded = Image.new(image.mode, (max(width, crop_w), max(height, crop_h)))
        padded.paste(image, (left, top))
        image, (width, height) = padded, padded.size
        if (width, height) == (crop_w, crop_h):
            return image
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))
