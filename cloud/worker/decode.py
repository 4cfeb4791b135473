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

Modes: every image ends as 8-bit RGB that looks as the photo does in a viewer (:func:`to_rgb`), never by
Pillow's ``convert("RGB")`` alone, which clips 16-bit greyscale to white and drops alpha. Deeper samples
are scaled by their bit depth, transparency is composited over white, and a CMYK JPEG without Adobe's
marker is not read inverted. Each mode gives the label of the same photo in 8-bit RGB
(tests/cloud/worker/test_decode_modes.py).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from shared.config import Config
from shared.scan import HEAD_BYTES, image_format, too_many_bytes

# Our own guard (``max_pixels``, from the config) replaces Pillow's process-wide one: otherwise
# Pillow refuses, on open, any image over twice its own limit with its own message and whatever
# limit was configured. Every decode in this process goes through decode_image's check.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_PIXELS = Config.max_image_pixels
DEFAULT_MAX_BYTES = Config.max_image_bytes
DRAFT = False  # JPEG DCT scaling when the caller says how small the image may get: off, see above
BACKGROUND = (255, 255, 255)  # what shows through transparency: white, as most viewers show it
TIFF_BITS_PER_SAMPLE = 258


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
        # Photos taken sideways are classified upright. In place: the format and a TIFF's tags, which
        # to_rgb reads, stay (a transposed copy has neither).
        ImageOps.exif_transpose(image, in_place=True)
        return to_rgb(image)
    except Exception:  # OSError "image file is truncated", SyntaxError, struct.error, ...
        raise BadImage("truncated or corrupt image") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` in 8-bit RGB as a viewer shows it, whatever its mode (the modes are in the module's docstring)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = Image.fromarray(_to_8bit(np.asarray(image), _integer_full_scale(image)))
    elif image.mode == "F":
        image = Image.fromarray(_to_8bit(np.asarray(image), _float_full_scale(np.asarray(image))))
    elif image.mode == "CMYK" and image.format == "JPEG" and "adobe" not in image.info:
        # Pillow reads every CMYK JPEG as Adobe's inverted CMYK; without Adobe's marker the samples are
        # plain CMYK (as browsers read them), so undo Pillow's inversion.
        image = Image.fromarray(255 - np.asarray(image), "CMYK")
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        # P or L with a transparent index or colour, per-entry palette alpha, real alpha: over BACKGROUND.
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba).convert("RGB")
    # 1, L, P, RGB, CMYK (Pillow's conversion is multiplicative), YCbCr, ... A 16-bit RGB(A) PNG or TIFF
    # already opens as 8-bit RGB(A), its high bytes: under a level from rounding, nothing clipped.
    return image.convert("RGB")


def _integer_full_scale(image: Image.Image) -> int:
    """The sample value that means white. A TIFF says its bit depth (a 12-bit camera TIFF opens as I;16 with
    values up to 4095); otherwise "I;16*" spans 0..65535, and "I" (32-bit signed in Pillow: PGM/PPM deeper
    than 8 bits, which Pillow scales to 0..65535, or a PNG in older Pillows) is taken as 16-bit unless a
    value is over 65535, then as 32-bit signed (0..2**31 - 1). Negative values are black."""
    declared = getattr(image, "tag_v2", {}).get(TIFF_BITS_PER_SAMPLE)
    if declared:
        bits = declared[0] if isinstance(declared, tuple) else int(declared)
        return 2 ** min(bits, 31) - 1  # Pillow's "I" holds 31 bits and a sign
    if image.mode.startswith("I;16"):
        return 65535
    return 65535 if int(np.asarray(image).max(initial=0)) <= 65535 else 2**31 - 1


def _float_full_scale(samples: np.ndarray) -> float:
    """Float images have no bit depth: white is 1.0 when no finite value is over 1 (the usual 0..1
    convention), else 255 when none is over 255 (8-bit data stored as float), else the largest value."""
    finite = samples[np.isfinite(samples)]
    top = float(finite.max()) if finite.size else 1.0
    return 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else top


def _to_8bit(samples: np.ndarray, full_scale: float) -> np.ndarray:
    """0..full_scale onto 0..255, rounded; out-of-range values clipped and NaN black."""
    scaled = np.nan_to_num(samples.astype(np.float64) * (255.0 / full_scale), nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def min_size_for(classifier: object) -> int | None:
    """The short side the classifier's preprocessing resizes to: how small ``decode_image`` may decode."""
    return getattr(getattr(classifier, "preprocessing", None), "resize", None)


def looks_like_image(data: bytes) -> bool:
    """Starts like an image format we know: one that then does not open is broken, not "not an image"."""
    return image_format(data[:HEAD_BYTES]) is not None

