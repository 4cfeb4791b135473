"""The wire format between client and worker: a request (under 1 KB) and a result.

Both are JSON objects carrying a version ``v``. Parsing validates every field; an unknown version
or a malformed body raises :class:`MessageError` with the reason, never a KeyError.

A request's image is ``length`` bytes from ``offset`` in its object (an input pack holds several
images, ``shared.layout.pack_key``); without the two fields (requests of earlier builds) it is the
whole object. They come together or not at all, and are left out of the body when absent. A request
with a range is version 2 (``RANGED_VERSION``): a worker of an earlier build, which would read the whole
pack and label its first image, refuses it as an unknown version instead (to the dead-letter queue).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.config import MAX_MESSAGE_BYTES

VERSION = 1
RANGED_VERSION = 2  # a request naming a byte range of its object


class MessageError(ValueError):
    """A message body that is not a valid request or result of a known version."""


def json_object(body: str | bytes) -> dict[str, Any]:
    """The JSON object in ``body``, or MessageError saying why it is not one."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    return data


def _load(body: str | bytes, versions: tuple[int, ...] = (VERSION,)) -> dict[str, Any]:
    data = json_object(body)
    version = data.get("v")
    if version not in versions or isinstance(version, bool):
        raise MessageError(f"unknown message version {version!r} (this build speaks "
                           f"{', '.join(map(str, versions))})")
    return data


def _take(data: dict[str, Any], name: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    if name not in data or data[name] is None:
        if optional:
            return None
        raise MessageError(f"missing field {name!r}")
    value = data[name]
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else ()):
        raise MessageError(f"field {name!r} has the wrong type")
    if not isinstance(value, kind):
        raise MessageError(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def _check_range(offset: int | None, length: int | None) -> None:
    if (offset is None) != (length is None):
        raise MessageError("fields 'offset' and 'length' come together")
    if offset is None:
        return
    for name, value, least in (("offset", offset, 0), ("length", length, 1)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise MessageError(f"field {name!r} has the wrong type ({type(value).__name__})")
        if value < least:
            raise MessageError(f"field {name!r} must be at least {least} (got {value})")


@dataclass(frozen=True)
class Request:
    request_id: str
    job_id: str
    bucket: str
    key: str
    name: str  # the file's path relative to what the user submitted
    reply_queue: str  # URL of the submitting client's own reply queue
    submitted: float = field(default_factory=time.time)
    offset: int | None = None  # the image's first byte in the object; None: the whole object
    length: int | None = None  # its size in bytes (>= 1); given with offset

    def __post_init__(self) -> None:
        _check_range(self.offset, self.length)

    @property
    def byte_range(self) -> tuple[int, int] | None:
        """(offset, length) of the image in its object, or None for the whole object."""
        return None if self.length is None else (self.offset, self.length)

    def _fields(self) -> dict[str, Any]:
        data = {"v": VERSION if self.length is None else RANGED_VERSION, **asdict(self)}
        if self.length is None:  # the whole object: a body an earlier build reads the same way
            del data["offset"], data["length"]
        return data

    def to_json(self) -> str:
        body = json.dumps(self._fields(), separators=(",", ":"), ensure_ascii=False)
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            # The name is informational (the client keeps its own request_id -> file map): shorten it.
            excess = len(body.encode()) - MAX_MESSAGE_BYTES
            keep = max(0, len(self.name.encode()) - excess - 8)
            short = "…" + self.name.encode()[-keep:].decode("utf-8", "ignore") if keep else "…"
            body = json.dumps({**self._fields(), "name": short}, separators=(",", ":"), ensure_ascii=False)
            if len(body.encode()) > MAX_MESSAGE_BYTES:
                raise MessageError(f"request {self.request_id} does not fit in {MAX_MESSAGE_BYTES} bytes")
        return body

    @classmethod
    def from_json(cls, body: str | bytes) -> Request:
        if len(body) > 4 * MAX_MESSAGE_BYTES:
            raise MessageError(f"request body of {len(body)} bytes is far over the {MAX_MESSAGE_BYTES}-byte cap")
        data = _load(body, (VERSION, RANGED_VERSION))
        ranged = data["v"] == RANGED_VERSION
        if ranged != ("offset" in data or "length" in data):
            raise MessageError(f"a version {data['v']} request {'needs' if ranged else 'has no'} byte range")
        return cls(
            request_id=_take(data, "request_id", str),
            job_id=_take(data, "job_id", str),
            bucket=_take(data, "bucket", str),
            key=_take(data, "key", str),
            name=_take(data, "name", str),
            reply_queue=_take(data, "reply_queue", str),
            submitted=float(_take(data, "submitted", (int, float))),
            offset=_take(data, "offset", int, optional=True),
            length=_take(data, "length", int, optional=True),
        )


@dataclass(frozen=True)
class Result:
    request_id: str
    job_id: str
    name: str
    label: str | None = None
    score: float | None = None
    top5: tuple[tuple[str, float], ...] = ()
    model: str | None = None
    worker_id: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # submitted, started, finished, download_s, ...

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["top5"] = [[label, score] for label, score in self.top5]
        return {"v": VERSION, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str | bytes) -> Result:
        return cls.from_dict(_load(body))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        if data.get("v") != VERSION:
            raise MessageError(f"unknown message version {data.get('v')!r} (this build speaks {VERSION})")
        top5_raw = _take(data, "top5", list, optional=True) or []
        try:
            top5 = tuple((str(label), float(score)) for label, score in top5_raw)
        except (TypeError, ValueError):
            raise MessageError("field 'top5' must be a list of [label, score] pairs") from None
        timings = _take(data, "timings", dict, optional=True) or {}
        score = _take(data, "score", (int, float), optional=True)
        result = cls(
            request_id=_take(data, "request_id", str),
            job_id=_take(data, "job_id", str),
            name=_take(data, "name", str),
            label=_take(data, "label", str, optional=True),
            score=None if score is None else float(score),
            top5=top5,
            model=_take(data, "model", str, optional=True),
            worker_id=_take(data, "worker_id", str, optional=True),
            error=_take(data, "error", str, optional=True),
            timings={str(k): float(v) for k, v in timings.items() if isinstance(v, (int, float))},
        )
        if result.error is None and result.label is None:
            raise MessageError("a result needs a label or an error")
        return result
