"""Preview uploads (``upload = preview``): a downscaled JPEG instead of the original photo.

The model looks at 224x224 pixels; a 12 MP photo is 3 MB to upload and 4000x3000 pixels to decode.
A preview whose long side is twice the model's input (448 pixels for the default model) keeps more
than the model uses and is a few dozen kilobytes. Pillow only, no Qt, no torch: the client makes it.

A file that is already that small, that Pillow cannot read, or whose preview would not be smaller, is
sent as it is, so the worker's answer (a label, or why it is not an image) is the one a user would get
with ``upload = original``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

DEFAULT_MODEL_INPUT = 224  # pixels, when no published model bundle says otherwise
DEFAULT_MODEL_RESIZE = 256  # the short side the model's preprocessing resizes to, likewise
PREVIEW_FACTOR = 2  # the preview's long side, in model inputs
# Measured on the 12 MP bench set (bench/photos.py): labels equal to the originals' for 84 of 100 photos at
# quality 90 with 4:2:0 chroma (23 KB a photo), 90 at quality 95 with full chroma (40 KB).
PREVIEW_QUALITY = 95
PREVIEW_SUBSAMPLING = "4:4:4"


def preview_long_side(preprocessing: Mapping[str, Any] | None) -> int:
    """Twice the model's input (``crop`` of a bundle's preprocessing); 448 when it is not known."""
    try:
        crop = (preprocessing or {})["crop"]
        side = max(int(crop[0]), int(crop[1]))
    except (KeyError, IndexError, TypeError, ValueError):
        side = DEFAULT_MODEL_INPUT
    return PREVIEW_FACTOR * (side if side > 0 else DEFAULT_MODEL_INPUT)


def preview_min_short_side(preprocessing: Mapping[str, Any] | None) -> int:
    """The model's resize (its preprocessing scales the short side to this): a preview's short side is
    never smaller, so a wide panorama is not scaled back up by the worker; 256 when it is not known."""
    try:
        side = int((preprocessing or {})["resize"])
    except (KeyError, TypeError, ValueError):
        side = DEFAULT_MODEL_RESIZE
    return side if side > 0 else DEFAULT_MODEL_RESIZE


def preview_box(width: int, height: int, long_side: int, min_short_side: int = 0) -> int:
    """The square the preview fits in: ``long_side``, or more for an image so wide (or tall) that its
    short side would otherwise fall under ``min_short_side``."""
    short, long = sorted((width, height))
    return max(long_side, -(-min_short_side * long // max(short, 1)))


def downscaled(image: Image.Image, long_side: int) -> Image.Image:
    """``image`` (freshly opened, not loaded) upright, in RGB, fitting ``long_side`` x ``long_side``.

    A JPEG is decoded with DCT scaling to the smallest scale that still covers the target on both
    sides, then resampled (bicubic, Pillow's antialiasing), so a 12 MP photo never loads at full size."""
    if image.format == "JPEG":
        image.draft("RGB", (long_side, long_side))
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((long_side, long_side), Image.Resampling.BICUBIC)
    return image


def preview_jpeg(path: str | Path, long_side: int, max_pixels: int, original_size: int | None = None,
                 min_short_side: int = 0) -> bytes | None:
    """The JPEG to upload instead of the file at ``path``, or None: send the original."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            box = preview_box(width, height, long_side, min_short_side)
            if width * height > max_pixels or max(width, height) <= box:
                return None  # the worker refuses it with its own reason / it is small already
            buffer = io.BytesIO()
            downscaled(image, box).save(buffer, "JPEG", quality=PREVIEW_QUALITY,
                                              subsampling=PREVIEW_SUBSAMPLING)
    except Exception:  # noqa: BLE001 - unreadable here: the worker says why, as for an original
        return None
    data = buffer.getvalue()
    return data if original_size is None or len(data) < original_size else None
