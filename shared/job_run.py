"""The live state of one submitted job: what is uploaded, queued, answered; shared by the job
client's uploader, enqueuer and reply receivers and by collect(). Every field is guarded by ``cond``."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from shared.config import MAX_BATCH
from shared.messages import Result
from shared.scan import Item, Skipped

BATCH_LINGER_SECONDS = 0.05  # wait this long for a full batch of 10 while uploads still finish
CANCELLED_BEFORE_ENQUEUE = "cancelled before it was enqueued"


@dataclass
class Job:
    job_id: str
    requests: dict[str, Item] = field(default_factory=dict)  # request_id -> item, for enqueued items
    upload_errors: list[Result] = field(default_factory=list)  # items that could not be uploaded/enqueued
    cancelled: bool = False
    total: int = 0  # items submitted: collect() yields this many results
    skipped: list[Skipped] = field(default_factory=list)  # what the scan left out, kept in the manifest


class JobRun:
    """The live state of one submitted job, shared by the uploader, the enqueuer, the reply receivers
    and collect(). Everything is guarded by ``cond``."""

    def __init__(self, job: Job, items: dict[str, Item], window: int, cancelled: Callable[[], bool]):
        self.job = job
        self.items = items  # request_id -> item: every item submitted
        self.window = window  # 0: no limit
        self.cancelled = cancelled
        self.cond = threading.Condition()
        self.pending: deque[str] = deque()  # uploaded, not yet enqueued
        self.enqueued: set[str] = set()  # sent, or being sent
        self.sending = 0  # requests popped from pending and not yet confirmed
        self.outstanding = 0  # enqueued without a result yet
        self.resolved: set[str] = set()
        self.ready: deque[Result] = deque()
        self.uploads_done = False
        self.stopped: str | None = None  # why enqueuing stopped early
        self.feeder_done = False

    # --- results ---------------------------------------------------------------------------
    def deliver(self, result: Result, before_queue: bool = False) -> bool:
        """Accepts a result once per request id; returns False for duplicates and strangers."""
        with self.cond:
            rid = result.request_id
            if rid in self.resolved or rid not in self.items:
                return False
            self.resolved.add(rid)
            if rid in self.enqueued:
                self.outstanding -= 1
            name = self.items[rid].name
            if result.name != name:  # the request may carry a shortened name; ours is authoritative
                result = replace(result, name=name)
            if before_queue:
                self.job.upload_errors.append(result)
            self.ready.append(result)
            self.cond.notify_all()
            return True

    def fail(self, rid: str, error: str, before_queue: bool) -> bool:
        result = Result(request_id=rid, job_id=self.job.job_id, name=self.items[rid].name, error=error)
        return self.deliver(result, before_queue=before_queue)

    def next_result(self, wait: float) -> Result | None:
        with self.cond:
            if not self.ready:
                self.cond.wait(wait)
            return self.ready.popleft() if self.ready else None

    def unresolved(self) -> list[str]:
        with self.cond:
            return [rid for rid in self.items if rid not in self.resolved]

    # --- enqueuing ---------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        with self.cond:
            if self.stopped is None:
                self.stopped = reason
            self.cond.notify_all()

    def _check_cancelled(self) -> None:
        if self.stopped is None and self.cancelled():
            self.stopped = CANCELLED_BEFORE_ENQUEUE
            self.job.cancelled = True

    def uploaded(self, rid: str) -> bool:
        """Hands an uploaded item to the enqueuer; False (and an error result) if enqueuing stopped."""
        with self.cond:
            reason = self.stopped
            if reason is None:
                self.pending.append(rid)
                self.cond.notify_all()
                return True
        self.fail(rid, reason, before_queue=True)
        return False

    def take_batch(self) -> list[str] | None:
        """Waits for the next batch to send (up to 10, within the window); None when there is no more."""
        linger_until: float | None = None
        with self.cond:
            while True:
                self._check_cancelled()
                if self.stopped is not None:
                    return None
                if not self.pending and self.uploads_done:
                    return None
                room = (self.window - self.outstanding) if self.window else MAX_BATCH
                wait = 0.1
                if self.pending and room > 0:
                    want = min(MAX_BATCH, room)
                    now = time.monotonic()
                    if linger_until is None:
                        linger_until = now + BATCH_LINGER_SECONDS
                    if len(self.pending) >= want or self.uploads_done or now >= linger_until:
                        batch = [self.pending.popleft() for _ in range(min(want, len(self.pending)))]
                        self.enqueued.update(batch)
                        self.outstanding += len(batch)
                        self.sending += len(batch)
                        return batch
                    wait = max(0.0, linger_until - now)
                self.cond.wait(wait)

    def sent(self, batch: list[str], error: str | None) -> None:
        with self.cond:
            self.sending -= len(batch)
            if error is None:
                self.job.requests = {**self.job.requests, **{rid: self.items[rid] for rid in batch}}
            else:
                for rid in batch:
                    self.enqueued.discard(rid)
                    if rid not in self.resolved:
                        self.outstanding -= 1
            self.cond.notify_all()
        if error is not None:
            for rid in batch:
                self.fail(rid, error, before_queue=True)

    def settled(self) -> bool:
        """Every upload finished and what the window allows is enqueued (or enqueuing has stopped)."""
        with self.cond:
            if self.feeder_done:
                return True
            window_full = bool(self.window) and self.outstanding >= self.window
            return self.uploads_done and self.sending == 0 and (not self.pending or window_full)
