"""One job, start to end, as a Task body: upload and enqueue, then collect every result.

Runs on a pool thread and never touches Qt widgets. Progress and results go into an :class:`Inbox`
(the GUI drains it every 100 ms) and, as they arrive, into the history database, so a job
survives a restart of the app. Each job has its own JobClient, hence its own reply queue: two jobs
running at once each collect exactly their own results.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from desktop.history import CANCELLED, FINISHED, RUNNING, HistoryStore, JobRecord
from desktop.inbox import Inbox
from desktop.rows import TableRow, row_from_result, row_from_skipped
from desktop.tasks import Task
from shared.config import Config
from shared.job import JobClient
from shared.scan import Item, Skipped

log = logging.getLogger(__name__)

HISTORY_FLUSH_SECONDS = 0.5  # results are written to SQLite in batches at most this old
HISTORY_FLUSH_ROWS = 200
ABANDON_CHECK_SECONDS = 0.2


class JobAbandoned(RuntimeError):
    """The app stopped waiting for a job's results (it is closing); they stay in the output bucket."""


@dataclass(frozen=True)
class JobPlan:
    """What the user asked for: the images found, the files skipped, and where to record it."""

    job_id: str
    title: str
    items: tuple[Item, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.items)


# --- what goes through the inbox -----------------------------------------------------------------
@dataclass(frozen=True)
class Uploaded:
    job_id: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    count: int  # requests enqueued: the results to wait for
    cancelled: bool


@dataclass(frozen=True)
class Arrived:
    job_id: str
    rows: list[TableRow] = field(default_factory=list)


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str  # finished | cancelled
    results: int
    seconds: float


class _HistoryBatch:
    """Results written to SQLite a batch at a time (one transaction per batch, not per row)."""

    def __init__(self, history: HistoryStore | None, job_id: str):
        self.history, self.job_id = history, job_id
        self.rows: list[TableRow] = []
        self.since = time.monotonic()

    def add(self, row: TableRow) -> None:
        self.rows.append(row)
        if len(self.rows) >= HISTORY_FLUSH_ROWS or time.monotonic() - self.since >= HISTORY_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.rows and self.history is not None:
            self.history.add_rows(self.job_id, self.rows)
        self.rows, self.since = [], time.monotonic()


def _collect_in_background(client: JobClient, job, results: queue.SimpleQueue) -> threading.Thread:
    """Iterates ``client.collect(job)`` on a daemon thread, handing results over through ``results``.

    collect() blocks until its job is complete or times out; iterating it here lets the task give up
    waiting at once when the app closes, instead of holding the window's exit for minutes."""

    def pump() -> None:
        try:
            for result in client.collect(job):
                results.put(result)
        except BaseException as exc:  # noqa: BLE001 - handed to the task, which raises it
            results.put(exc)
        finally:
            results.put(_END)

    thread = threading.Thread(target=pump, name=f"imgrec-collect-{job.job_id}", daemon=True)
    thread.start()
    return thread


_END = object()


def run_job(task: Task, cfg: Config, plan: JobPlan, inbox: Inbox, history: HistoryStore | None,
            target: str, abandon: threading.Event | None = None) -> JobOutcome:
    """Uploads, enqueues and collects one job. ``task.cancel()`` stops the uploads (what was enqueued
    still comes back); ``abandon`` stops waiting for results (the app is closing)."""
    started = time.monotonic()
    abandon = abandon or threading.Event()
    paths = {item.name: str(item.path) for item in plan.items}
    if history is not None:
        history.add_job(JobRecord(job_id=plan.job_id, title=plan.title, target=target,
                                  output_bucket=cfg.output_bucket))
        history.add_items(plan.job_id, paths.items())
        history.add_rows(plan.job_id, [row_from_skipped(s, plan.job_id) for s in plan.skipped])

    client = JobClient(cfg)
    try:
        def on_uploaded(_item: Item, files_done: int, bytes_done: int) -> None:
            inbox.put(Uploaded(plan.job_id, files_done, bytes_done))

        job = client.submit(list(plan.items), on_uploaded=on_uploaded, cancelled=task.cancelled,
                            job_id=plan.job_id, skipped=list(plan.skipped))
        if history is not None:
            history.set_status(plan.job_id, RUNNING)
        # Every item submitted comes back from collect() exactly once, failures and cancellations included.
        inbox.put(Enqueued(plan.job_id, job.total, job.cancelled))

        results: queue.SimpleQueue = queue.SimpleQueue()
        _collect_in_background(client, job, results)
        batch = _HistoryBatch(history, plan.job_id)
        count = 0
        try:
            while True:
                try:
                    result = results.get(timeout=ABANDON_CHECK_SECONDS)
                except queue.Empty:
                    if abandon.is_set():
                        raise JobAbandoned(f"job {plan.job_id}: stopped waiting for results") from None
                    continue
                if result is _END:
                    break
                if isinstance(result, BaseException):
                    raise result
                row = row_from_result(result, paths.get(result.name))
                inbox.put(Arrived(plan.job_id, [row]))
                batch.add(row)
                count += 1
        finally:
            batch.flush()
        status = CANCELLED if job.cancelled else FINISHED
        if history is not None:
            history.set_status(plan.job_id, status)
        return JobOutcome(plan.job_id, status, count, time.monotonic() - started)
    finally:
        try:
            client.close()
        except Exception as exc:  # noqa: BLE001 - the reply queue is left for its retention period
            log.warning("job %s: could not delete the reply queue: %s", plan.job_id, exc)
