"""One request's image: download (size-guarded), decode (guarded), preprocess for the model.

The image is the request's byte range of its object (an input pack of several images), read out of the
pack downloaded once for all its requests in hand (:mod:`cloud.worker.packs`), or the whole object for a
request without a range. A range longer than
``cfg.max_image_bytes`` is refused before any read; a range the object does not fully hold is the
client's fault (the pack is shorter than its requests say) and is answered, not retried.

Runs in the worker's download threads, so that all of it overlaps the inference of the batch before.
A bad input raises :class:`InputError`, answered to the user as an error result; anything else
(S3 unreachable, throttled, ...) propagates and the request is retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError
from PIL import Image

from cloud.worker.decode import BadImage, decode_image
from cloud.worker.packs import PackReader
from shared.config import Config
from shared.messages import Request
from shared.s3 import ObjectMissing, ObjectTooLarge, S3Service, bucket_is_missing
from shared.scan import too_many_bytes

MISSING = "image missing from input bucket"
SHORT = "truncated or corrupt image"  # as decode says of a cut file: here the object holds less than the range


class InputError(Exception):
    """This request can never succeed: answer it with ``reason`` instead of retrying."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Fetched:
    prepared: object  # what the engine's prepare gave (an image, or a tensor for a torch-only transform)
    download_s: float
    decode_s: float  # decode and per-image preprocessing


def fetch(s3: S3Service, cfg: Config, request: Request,
          prepare: Callable[[Image.Image], object], min_size: int | None = None,
          packs: PackReader | None = None) -> Fetched:
    """``min_size``: the short side the model's preprocessing needs (``decode.min_size_for``);
    ``packs``: reads ranges out of packs downloaded once (else one ranged GET per image)."""
    started = time.perf_counter()
    byte_range = request.byte_range
    if byte_range is not None and request.length > cfg.max_image_bytes:
        raise InputError(too_many_bytes(request.length, cfg.max_image_bytes))
    try:
        if byte_range is not None and packs is not None:
            data = packs.read(request.bucket, request.key, *byte_range)
        else:
            data = s3.get_bytes(request.bucket, request.key, max_bytes=cfg.max_image_bytes, byte_range=byte_range)
    except ObjectMissing:
        raise InputError(MISSING) from None
    except ObjectTooLarge as exc:
        raise InputError(too_many_bytes(exc.size, exc.limit)) from None
    except ClientError as exc:
        if bucket_is_missing(exc):
            raise InputError(f"{MISSING} (no bucket {request.bucket})") from None
        raise
    if byte_range is not None and len(data) != request.length:
        raise InputError(f"{SHORT}: {len(data)} of its {request.length} bytes in the input object")
    downloaded = time.perf_counter()
    try:
        image = decode_image(data, cfg.max_image_pixels, cfg.max_image_bytes, min_size)
    except BadImage as exc:
        raise InputError(exc.reason) from None
    try:
        prepared = prepare(image)
    except Exception as exc:  # noqa: BLE001 - the same image would fail the same way on every retry
        raise InputError(f"could not preprocess the image: {exc}") from None
    return Fetched(prepared=prepared, download_s=downloaded - started, decode_s=time.perf_counter() - downloaded)
