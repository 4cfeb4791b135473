"""Reading images out of input packs: each pack downloaded once for the requests in hand, not once per image.

A client uploads up to ten images per object (``shared.layout.pack_key``), and their requests usually
reach a worker together. Each request names its byte range; one ranged GET per image would cost a
request (and about 2 ms of the worker's CPU in botocore) per image. :class:`PackReader` downloads the
pack once, however many download threads ask for ranges of it at the same time, and keeps recent packs
within a memory budget. A pack larger than ``max_pack_bytes`` (a single file over the pack limit) is
not cached: its image is read with a ranged GET, as before.

A failed download is not remembered: every thread that waited on it gets the error (a missing pack is
the client's fault and answered; anything else is retried with the request), and the next read tries
again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from shared.s3 import ObjectTooLarge, S3Service

PACK_CACHE_BYTES = 64 * 1024 * 1024  # packs kept in memory per worker, newest first
DOWNLOAD_WAIT_SECONDS = 120.0  # a thread waiting on another's download of the same pack gives up after this


@dataclass
class _Pack:
    ready: threading.Event = field(default_factory=threading.Event)
    data: bytes | None = None  # None once ready: too large to cache (read by range)
    error: BaseException | None = None


class PackReader:
    def __init__(self, s3: S3Service, max_pack_bytes: int, budget_bytes: int = PACK_CACHE_BYTES):
        self._s3 = s3
        self._max = max_pack_bytes
        self._budget = budget_bytes
        self._lock = threading.Lock()
        self._packs: OrderedDict[tuple[str, str], _Pack] = OrderedDict()
        self.downloads = 0  # whole-pack GETs made, for tests and logs

    def read(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` of the object (fewer if it is shorter). S3 errors propagate."""
        pack, mine = self._claim((bucket, key))
        if mine:
            self._download((bucket, key), pack)
        elif not pack.ready.wait(DOWNLOAD_WAIT_SECONDS):
            raise TimeoutError(f"s3://{bucket}/{key} took over {DOWNLOAD_WAIT_SECONDS:g} s to download")
        if pack.error is not None:
            raise pack.error
        if pack.data is None:
            return self._s3.get_bytes(bucket, key, byte_range=(offset, length))
        return pack.data[offset : offset + length]

    def _claim(self, name: tuple[str, str]) -> tuple[_Pack, bool]:
        with self._lock:
            pack = self._packs.get(name)
            if pack is not None:
                self._packs.move_to_end(name)
                return pack, False
            pack = self._packs[name] = _Pack()
            return pack, True

    def _download(self, name: tuple[str, str], pack: _Pack) -> None:
        try:
            pack.data = self._s3.get_bytes(*name, max_bytes=self._max)
            self.downloads += 1
        except ObjectTooLarge:
            pack.data = None
        except BaseException as exc:  # noqa: BLE001 - handed to every reader waiting on this pack
            pack.error = exc
        with self._lock:
            if pack.error is not None and self._packs.get(name) is pack:
                del self._packs[name]  # not remembered: the next read tries again
            self._evict()
        pack.ready.set()

    def _evict(self) -> None:
        """Drops the oldest finished packs while the cache holds more than its budget (lock held)."""
        held = sum(len(p.data) for p in self._packs.values() if p.data is not None)
        for name in list(self._packs):
            if held <= self._budget:
                return
            pack = self._packs[name]
            if pack.ready.is_set() or pack.data is not None:
                held -= len(pack.data or b"")
                del self._packs[name]
