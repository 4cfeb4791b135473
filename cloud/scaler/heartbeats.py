"""How a remote worker reports idle: its status object ``workers/<worker_id>.json`` in the output bucket.

On EC2 the worker's id is its instance id (the boot script passes ``--worker-id <instance id>``), so
an instance's status object is found by name, with no extra tag or lookup. The worker writes the
object on every state change and refreshes it every few seconds (``ts``); ``since`` is when it
entered its state. A report counts only if it is fresh and was written after the instance last
started: a stopped instance restarted from the warm pool keeps its id, and its old "idle" must not
make a booting instance look removable. The object also carries the worker's measured rate
(``images_per_s``); a valid report passes it on to the policy.

An instance with no valid report is *booting* for its first ``BOOT_GRACE_SECONDS``, then
*running* in an unknown state: never idle, so never removed by scale-in (its own idle timeout, or
the boot script's power-off when the worker exits, takes care of a broken one).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cloud.scaler.fleet import BUSY, DRAINING, IDLE_STATES, LOADING, STOPPED, Worker
from cloud.worker.status import reported_rate
from shared.layout import worker_status_key
from shared.s3 import ObjectMissing, S3Service

STALE_SECONDS = 30.0  # six refreshes of the worker's 5-s status object missed: it is not reporting
BOOT_GRACE_SECONDS = 600.0  # boot + image pull + model load; longer than this without a report is suspect
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Report:
    state: str
    ts: float  # when the object was written
    since: float  # when the worker entered the state
    images_per_s: float | None = None  # its measured rate; None before its first batch (or an older worker)


def read_reports(s3: S3Service, bucket: str, worker_ids: list[str]) -> dict[str, Report]:
    """The status object of each worker that has one (missing or unreadable ones are left out)."""

    def one(worker_id: str) -> tuple[str, Report | None]:
        try:
            data = s3.get_json(bucket, worker_status_key(worker_id), denied_is_missing=True)
            return worker_id, Report(state=str(data["state"]), ts=float(data["ts"]),
                                     since=float(data.get("since", data["ts"])), images_per_s=reported_rate(data))
        except (ObjectMissing, KeyError, TypeError, ValueError, json.JSONDecodeError):
            return worker_id, None

    if not worker_ids:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(worker_ids))) as pool:
        return {wid: rep for wid, rep in pool.map(one, worker_ids) if rep is not None}


def classify(worker_id: str, started: float, report: Report | None, now: float) -> Worker:
    """A running instance's condition from its report; ``started`` is when it last (re)started."""
    valid = report is not None and report.ts >= started - 1.0 and now - report.ts <= STALE_SECONDS
    if not valid:
        if now - started < BOOT_GRACE_SECONDS:
            return Worker(worker_id, "booting", LOADING, started)
        return Worker(worker_id, "running", UNKNOWN, started)
    assert report is not None
    if report.state == LOADING:
        return Worker(worker_id, "booting", LOADING, report.since)
    condition = "draining" if report.state in (DRAINING, STOPPED) else "running"
    return Worker(worker_id, condition, report.state, report.since, report.images_per_s)


def last_busy(reports: dict[str, Report], workers: list[Worker]) -> float | None:
    """When a worker was last busy: the report time of a busy one, or when an idle one went idle."""
    moments = []
    for worker in workers:
        report = reports.get(worker.id)
        if report is None or worker.condition != "running":
            continue
        if worker.state == BUSY:
            moments.append(report.ts)
        elif worker.state in IDLE_STATES:
            moments.append(report.since)
    return max(moments) if moments else None
