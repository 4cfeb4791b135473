"""Bytes in, an RGB image out, or :class:`BadImage` with a short reason a user can read.

The guards run before any pixel is decoded: the byte count first, then the dimensions from the
header, so a small file claiming 60000 x 60000 pixels (a decompression bomb) is refused without
allocating its pixels.

Draft decoding: the model never sees more than its preprocessing's resize (256 pixels on the short
side for the default model), so a 12 MP JPEG need not be decoded at full size. Given ``min_size``,
a JPEG is decoded with DCT scaling (1/2, 1/4 or 1/8) to the smallest scale whose short side is still
at least ``min_size``, then resized by the model's own preprocessing as before: under a fifth of the
CPU of a full decode (bench/photos.py). It is OFF (``DRAFT``): on the 12 MP bench set its label equalled
the full decode's for 93 of 100 photos, under the 99 we ask for. The seven that differ were near-ties
(top-1 and top-2 within 0.02; the draft's label always in the full decode's top 5), and the sensor
noise alone (the same photos with another noise seed) changes 4 of 100; bench/README.md has it all.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from shared.config import Config
from shared.scan import HEAD_BYTES, image_format

# Our own guard (``max_pixels``, from the config) replaces Pillow's process-wide one: otherwise
# Pillow refuses, on open, any image over twice its own limit with its own message and whatever
# limit was configured. Every decode in this process goes through decode_image's check.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_PIXELS = Config.max_image_pixels
DEFAULT_MAX_BYTES = Config.max_image_bytes
DRAFT = False  # JPEG DCT scaling when the caller says how small the image may get: off, see above


class BadImage(Exception):
    """The bytes are not an image this service can classify; ``reason`` says why, in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = DEFAULT_MAX_BYTES,
                 min_size: int | None = None) -> Image.Image:
    """The image, upright, in RGB. ``min_size``: the shortest side the caller needs (the model's
    resize); a JPEG may then be decoded smaller than stored, never below it on either side."""
    if not data:
        raise BadImage("empty file")
    if max_bytes is not None and len(data) > max_bytes:
        raise BadImage(too_many_bytes(len(data), max_bytes))
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Exception:  # UnidentifiedImageError, or whatever a plugin raises on a mangled header
        raise BadImage("truncated or corrupt image" if looks_like_image(data) else "not an image") from None
    width, height = image.size
    if width * height > max_pixels:
        raise BadImage(f"image too large: {width}x{height} pixels (limit {max_pixels})")
    if width < 1 or height < 1:
        raise BadImage("truncated or corrupt image")
    try:
        if DRAFT and min_size and image.format == "JPEG":
            # Pillow picks the largest scale that keeps both sides >= the size asked for; asking
            # for a square keeps the short side >= min_size whichever way EXIF turns it afterwards.
            image.draft("RGB", (min_size, min_size))
        image.load()
        image = ImageOps.exif_transpose(image)  # photos taken sideways are classified upright
        return image.convert("RGB")
    except Exception:  # OSError "image file is truncated", SyntaxError, struct.error, ...
        raise BadImage("truncated or corrupt image") from None


def min_size_for(classifier: object) -> int | None:
    """The short side the classifier's preprocessing resizes to: how small ``decode_image`` may decode."""
    return getattr(getattr(classifier, "preprocessing", None), "resize", None)


def looks_like_image(data: bytes) -> bool:
    """Starts like an image format we know: one that then does not open is broken, not "not an image"."""
    return image_format(data[:HEAD_BYTES]) is not None


def too_many_bytes(size: int, limit: int) -> str:
    return f"image too large: {size} bytes (limit {limit})"
