"""A job's manifest in the output bucket: which request is which file, what failed before the queue,
what was sent (updated every few seconds while the job is enqueued), and what was skipped.
`imgrec results JOB_ID` reads it to report every file: classified, failed, in progress or not sent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shared.scan import Skipped

MANIFEST_VERSION = 1


# What `imgrec results` says of a request with no result yet (the error column; neither is a failure).
IN_PROGRESS = "in progress: queued or being classified, no result yet"
NOT_SENT = ("not sent, as of the job's latest manifest update (its client stopped, or is still sending); "
            "run the same `imgrec classify` again to resume")
PENDING = (IN_PROGRESS, NOT_SENT)


class ManifestError(ValueError):
    """A manifest that is not one this build understands."""


@dataclass
class Manifest:
    job_id: str
    requests: dict[str, str] = field(default_factory=dict)  # request_id -> name, every item submitted
    errors: dict[str, str] = field(default_factory=dict)  # request_id -> error, items never enqueued
    sent: set[str] = field(default_factory=set)  # request ids enqueued, as of the latest update
    skipped: list[Skipped] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    client_id: str = ""
    complete: bool = False  # True once every item was enqueued or failed
    cancelled: bool = False

    def unanswered(self, request_id: str) -> str:
        """The error row of a request with no result: why it failed before the queue, IN_PROGRESS, or
        NOT_SENT (the latest update does not list it as sent)."""
        if request_id in self.errors:
            return self.errors[request_id]
        if request_id in self.sent or (self.complete and not self.sent):  # a manifest from before "sent"
            return IN_PROGRESS
        return NOT_SENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": MANIFEST_VERSION,
            "job_id": self.job_id,
            "created": self.created,
            "client_id": self.client_id,
            "complete": self.complete,
            "cancelled": self.cancelled,
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "sent": sorted(self.sent),
            "skipped": [
                {"name": s.name, "reason": s.reason, "looks_like_image": s.looks_like_image} for s in self.skipped
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if not isinstance(data, dict) or data.get("v") != MANIFEST_VERSION:
            raise ManifestError(f"unknown manifest version {data.get('v') if isinstance(data, dict) else None!r}")
        try:
            return cls(
                job_id=str(data["job_id"]),
                requests={str(k): str(v) for k, v in data.get("requests", {}).items()},
                errors={str(k): str(v) for k, v in data.get("errors", {}).items()},
                sent={str(rid) for rid in data.get("sent", ())},
                skipped=[Skipped(str(s["name"]), str(s["reason"]), bool(s["looks_like_image"]))
                         for s in data.get("skipped", [])],
                created=float(data.get("created", 0.0)),
                client_id=str(data.get("client_id", "")),
                complete=bool(data.get("complete", False)),
                cancelled=bool(data.get("cancelled", False)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"malformed manifest: {exc!r}") from None
