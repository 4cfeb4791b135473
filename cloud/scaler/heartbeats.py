"""How a remote worker reports idle: its status object ``workers/<worker_id>.json`` in the output bucket.

On EC2 the worker's id is its instance id (the boot script passes ``--worker-id <instance id>``), so
an instance's status object is found by name, with no extra tag or lookup. The worker writes the
object on every state change and refreshes it every few seconds (``ts``); ``since`` is when it
entered its state. A report counts only if it is fresh and was written after the instance last
started: a stopped instance restarted from the warm pool keeps its id, and its old "idle" must not
make a booting instance look removable. The object also carries the worker's measured rate
(``images_per_s``); a valid report passes it on to the policy. The objects are read with
:func:`shared.worker_status.read_statuses`.

An instance with no valid report is *booting* for its first ``BOOT_GRACE_SECONDS``, then
*running* in an unknown state: never idle, so never removed by scale-in (its own idle timeout, or
the boot script's power-off when the worker exits, takes care of a broken one).
"""

from __future__ import annotations

from cloud.scaler.fleet import FleetWorker
from shared.worker_status import BUSY, DRAINING, IDLE_STATES, LOADING, STALE_SECONDS, STOPPED, WorkerStatus

BOOT_GRACE_SECONDS = 600.0  # boot + image pull + model load; longer than this without a report is suspect
UNKNOWN = "unknown"


def classify(worker_id: str, started: float, report: WorkerStatus | None, now: float) -> FleetWorker:
    """A running instance's condition from its report; ``started`` is when it last (re)started."""
    valid = report is not None and report.ts >= started - 1.0 and now - report.ts <= STALE_SECONDS
    if not valid:
        if now - started < BOOT_GRACE_SECONDS:
            return FleetWorker(worker_id, "booting", LOADING, started)
        return FleetWorker(worker_id, "running", UNKNOWN, started)
    assert report is not None
    if report.state == LOADING:
        return FleetWorker(worker_id, "booting", LOADING, report.since)
    condition = "draining" if report.state in (DRAINING, STOPPED) else "running"
    return FleetWorker(worker_id, condition, report.state, report.since, report.images_per_s)


def last_busy(reports: dict[str, WorkerStatus], workers: list[FleetWorker]) -> float | None:
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
