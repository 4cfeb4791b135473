"""One request's image: download (size-guarded), decode (guarded), preprocess for the model.

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

from cloud.worker.decode import BadImage, decode_image, too_many_bytes
from shared.config import Config
from shared.messages import Request
from shared.s3 import ObjectMissing, ObjectTooLarge, S3Service

MISSING = "image missing from input bucket"


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
          prepare: Callable[[Image.Image], object], min_size: int | None = None) -> Fetched:
    """``min_size``: the short side the model's preprocessing needs (``decode.min_size_for``)."""
    started = time.perf_counter()
    try:
        data = s3.get_bytes(request.bucket, request.key, max_bytes=cfg.max_image_bytes)
    except ObjectMissing:
        raise InputError(MISSING) from None
    except ObjectTooLarge as exc:
        raise InputError(too_many_bytes(exc.size, exc.limit)) from None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            raise InputError(f"{MISSING} (no bucket {request.bucket})") from None
        raise
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
