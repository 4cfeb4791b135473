"""Thin S3 access: concurrent uploads through boto3's transfer manager (files, or bytes in memory such
as the client's input packs, each one PutObject), JSON results, guarded and ranged reads.

A missing object: S3 answers 404 NoSuchKey only to a reader allowed s3:ListBucket on the bucket; to
one without it (least privilege) it answers 403 AccessDenied, exactly as when the object exists and
may not be read. Where a missing object is an expected answer (a worker's status object before its
first report, a model bundle's sidecar, a job's manifest), ask with ``denied_is_missing=True``, or
build the service with it; everywhere else a 403 stays the error it is.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.subscribers import BaseSubscriber

from shared import aws
from shared.config import Config
from shared.layout import PACK_MAX_BYTES


class ObjectTooLarge(Exception):
    """The object is bigger than the caller is willing to read."""

    def __init__(self, message: str, size: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.size = size
        self.limit = limit


class ObjectMissing(Exception):
    """No object under that key (or, read with ``denied_is_missing``, none that this reader may read)."""


_MISSING = ("NoSuchKey", "404")
_DENIED = ("AccessDenied", "403")


@dataclass(frozen=True)
class Upload:
    path: str  # the file to send, or a description of ``data`` (for messages)
    bucket: str
    key: str
    data: bytes | None = None  # when given, these bytes are sent and ``path`` is not read


class S3Service:
    def __init__(self, cfg: Config, client=None, *, denied_is_missing: bool = False):
        """``denied_is_missing``: the default of the reads' argument of that name (see the module's note)."""
        self.cfg = cfg
        self.client = client or aws.client(cfg, "s3", max_pool=max(32, cfg.upload_concurrency * 2))
        self.denied_is_missing = denied_is_missing

    # --- uploads ---------------------------------------------------------------------------
    def upload_many(
        self,
        uploads: Iterable[Upload],
        on_done: Callable[[Upload, BaseException | None], None],
    ) -> None:
        """Uploads concurrently; calls ``on_done(upload, error)`` once per upload, from worker threads.

        Anything up to a pack or an image (``PACK_MAX_BYTES``, ``max_image_bytes``) goes as one
        PutObject, not a multipart upload of several billed requests.
        """
        single_put = max(PACK_MAX_BYTES, self.cfg.max_image_bytes) + 1
        config = TransferConfig(max_concurrency=self.cfg.upload_concurrency, use_threads=True,
                                multipart_threshold=max(single_put, TransferConfig().multipart_threshold))
        with create_transfer_manager(self.client, config) as manager:
            for upload in uploads:
                source = upload.path if upload.data is None else io.BytesIO(upload.data)
                manager.upload(source, upload.bucket, upload.key, subscribers=[_Done(upload, on_done)])

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"):
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    # --- reads -----------------------------------------------------------------------------
    def get_bytes(self, bucket: str, key: str, max_bytes: int | None = None,
                  byte_range: tuple[int, int] | None = None, *, denied_is_missing: bool | None = None) -> bytes:
        """The object's bytes, or with ``byte_range=(offset, length)`` those of that range (one ranged
        GET): fewer than ``length`` where the object ends sooner, none where it ends before ``offset``.
        The caller checks what came back against what it asked for. Raises ObjectMissing for a missing
        key, and for a 403 too with ``denied_is_missing`` (None: the service's default)."""
        extra = {}
        if byte_range is not None:
            offset, length = byte_range
            if offset < 0 or length < 1:
                raise ValueError(f"not a byte range: {byte_range!r}")
            extra["Range"] = f"bytes={offset}-{offset + length - 1}"
        try:
            obj = self.client.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _MISSING:
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
            if code in _DENIED and (self.denied_is_missing if denied_is_missing is None else denied_is_missing):
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist, or may not be read (S3 answers "
                                    "AccessDenied for a missing key without s3:ListBucket)") from None
            if byte_range is not None and code in ("InvalidRange", "416"):
                return b""  # the object ends before the range starts
            raise
        size = obj.get("ContentLength", 0)
        if max_bytes is not None and size > max_bytes:
            obj["Body"].close()
            raise ObjectTooLarge(f"{size} bytes is over the {max_bytes}-byte limit", size, max_bytes)
        return obj["Body"].read()

    def put_json(self, bucket: str, key: str, data: dict) -> None:
        self.put_bytes(bucket, key, json.dumps(data, separators=(",", ":")).encode(), "application/json")

    def get_json(self, bucket: str, key: str, *, denied_is_missing: bool | None = None) -> dict:
        return json.loads(self.get_bytes(bucket, key, denied_is_missing=denied_is_missing))

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]


class _Done(BaseSubscriber):
    """Reports a finished transfer (or its error) to the caller, exactly once."""

    def __init__(self, upload: Upload, on_done: Callable[[Upload, BaseException | None], None]):
        self.upload, self._callback = upload, on_done

    def on_done(self, future, **kwargs) -> None:  # noqa: D401 - s3transfer's hook name
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as the upload's error
            self._callback(self.upload, exc)
            return
        self._callback(self.upload, None)


def bucket_is_missing(exc: BaseException) -> bool:
    """Whether an S3 call failed because the bucket does not exist (HeadBucket answers a bare 404)."""
    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code", "") in ("NoSuchBucket", "404", "NotFound")
