"""What a worker says about itself, and how every reader reads it: one codec for both channels.

A worker (``cloud.worker.status.StatusReporter``) reports its state, and the rate it measured, on two
channels with the same states:

* JSON lines on stdout (``--status-stdout``), one per state change, for a local supervisor that started
  the process (the embedded cloud, the autoscaler's local fleet)::

      {"event": "state", "state": "busy", "worker_id": "local-1", "ts": 1767000000.123, "images_per_s": 41.7}

* a status object ``workers/<worker_id>.json`` in the output bucket (state, ts, since, processed,
  images_per_s, host, pid, model), refreshed every ``REFRESH_SECONDS``, for a remote scaler, ``imgrec
  status`` and a job's cost.

Both read into a :class:`WorkerStatus`; anything else (a stray print, a foreign or broken object) reads
as None and is skipped. Readers ignore fields they do not know, and ``images_per_s`` is absent until the
worker has measured it.

States, in order: ``loading`` (importing, loading the model), ``ready`` (model loaded, about to poll),
``busy`` (a batch in hand), ``idle`` (nothing in hand), ``draining`` (stopping: finishing the batch in
hand), ``stopped`` (about to exit).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared import layout
from shared.s3 import ObjectMissing

LOADING, READY, BUSY, IDLE, DRAINING, STOPPED = "loading", "ready", "busy", "idle", "draining", "stopped"
STATES = (LOADING, READY, BUSY, IDLE, DRAINING, STOPPED)
IDLE_STATES = (READY, IDLE)  # up, holding no work: what scale-in may remove
RATE_FIELD = "images_per_s"
REFRESH_SECONDS = 5.0  # a running worker rewrites its status object at least this often
STALE_SECONDS = 30.0  # six refreshes missed: the worker is not reporting (killed, or its machine gone)
READ_CONCURRENCY = 8


@dataclass(frozen=True)
class WorkerStatus:
    worker_id: str
    state: str
    ts: float  # when it was written (Unix seconds)
    since: float  # when the worker entered the state (a status line: ts)
    images_per_s: float | None = None  # its measured rate; None before its first batch (or an older worker)
    data: Mapping = field(default_factory=dict, compare=False, repr=False)  # all it said, for display

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.ts

    def live(self, now: float | None = None) -> bool:
        """Not stopped, and reported recently: a killed worker never says "stopped"."""
        return self.state != STOPPED and self.age(now) <= STALE_SECONDS


# --- status lines (stdout) -------------------------------------------------------------------------

def status_line(state: str, worker_id: str, ts: float | None = None, images_per_s: float | None = None) -> str:
    if state not in STATES:
        raise ValueError(f"unknown worker state {state!r}")
    event: dict = {"event": "state", "state": state, "worker_id": worker_id,
                   "ts": round(time.time() if ts is None else ts, 3)}
    if images_per_s is not None:
        event[RATE_FIELD] = round(images_per_s, 2)
    return json.dumps(event)


def parse_status_line(line: str) -> WorkerStatus | None:
    """The status a line says, or None for anything else (a stray print)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") != "state" or event.get("state") not in STATES:
        return None
    ts = _number(event.get("ts"))
    if ts is None:
        return None
    return WorkerStatus(worker_id=str(event.get("worker_id", "")), state=event["state"], ts=ts, since=ts,
                        images_per_s=_rate(event), data=event)


# --- status objects (the output bucket) --------------------------------------------------------------

def status_object(worker_id: str, state: str | None, since: float, images_per_s: float | None,
                  **more) -> dict:
    """What a worker writes to ``workers/<worker_id>.json`` now; ``more``: fields for people (processed,
    model, host, pid)."""
    return {"worker_id": worker_id, "state": state, "ts": round(time.time(), 3), "since": round(since, 3),
            RATE_FIELD: None if images_per_s is None else round(images_per_s, 2), **more}


def parse_status_object(data: object, worker_id: str | None = None) -> WorkerStatus | None:
    """The status an object says (``worker_id``: when the object does not name one), or None when it is
    not one (no state, no time)."""
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        return None
    ts = _number(data.get("ts"))
    if ts is None:
        return None
    since = _number(data.get("since"))
    return WorkerStatus(worker_id=str(data.get("worker_id") or worker_id or ""), state=data["state"], ts=ts,
                        since=ts if since is None else since, images_per_s=_rate(data), data=data)


def read_status(s3, bucket: str, worker_id: str) -> WorkerStatus | None:
    """A worker's status object; None when it has none (or one this reader may not read, or not a status)."""
    try:
        data = s3.get_json(bucket, layout.worker_status_key(worker_id), denied_is_missing=True)
    except (ObjectMissing, ValueError):
        return None
    return parse_status_object(data, worker_id)


def read_statuses(s3, bucket: str, worker_ids: Iterable[str] | None = None) -> dict[str, WorkerStatus]:
    """The status of each of ``worker_ids`` that has one, or (None) of every worker with a status object;
    by worker id. Objects are read concurrently; other errors than a missing object raise."""
    if worker_ids is None:
        keys = list(s3.list_keys(bucket, layout.WORKER_STATUS_PREFIX))
        names = [key.removeprefix(layout.WORKER_STATUS_PREFIX).removesuffix(".json") for key in keys]
    else:
        names = list(worker_ids)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(names))) as pool:
        found = pool.map(lambda name: (name, read_status(s3, bucket, name)), names)
        if worker_ids is not None:
            return {name: status for name, status in found if status is not None}
        return {status.worker_id: status for _name, status in found if status is not None}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _rate(data: Mapping) -> float | None:
    """The measured images/s; None when there is none, or the value is not a positive number."""
    value = _number(data.get(RATE_FIELD))
    return value if value is not None and value > 0 else None
