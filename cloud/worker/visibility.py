"""The heartbeat: keeps the messages a worker holds invisible to others while it works on them.

Every ``interval`` seconds (shorter than the visibility timeout, checked at start) it extends the
visibility of every receipt in hand back to the full timeout, in batches of 10. A receipt SQS calls
invalid (the message went back to the queue, or another worker took it) is no longer tracked: this
worker no longer holds that message, and extending it again cannot succeed. Other refusals are
logged, by message, and tried again at the next beat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from shared.config import Config

log = logging.getLogger(__name__)


def heartbeat_interval(cfg: Config) -> float:
    """cfg.heartbeat_interval, or a third of the visibility timeout; always shorter than the timeout."""
    interval = cfg.heartbeat_interval or cfg.visibility_timeout / 3
    if not 0 < interval < cfg.visibility_timeout:
        raise ValueError(f"heartbeat interval {interval} s must be shorter than the visibility timeout "
                         f"({cfg.visibility_timeout} s), or messages reappear while they are being worked on")
    return interval


class Heartbeat:
    def __init__(self, sqs, queue_url: str, visibility_timeout: int, interval: float):
        if not 0 < interval < visibility_timeout:
            raise ValueError(f"heartbeat interval {interval} s must be shorter than the visibility "
                             f"timeout ({visibility_timeout} s)")
        self._sqs = sqs
        self._url = queue_url
        self._timeout = visibility_timeout
        self._interval = interval
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.beats = 0  # extensions sent, for tests and logs
        self.lost = 0  # receipts dropped because SQS said they were no longer valid

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def track(self, receipts: Iterable[str]) -> None:
        with self._lock:
            self._held.update(receipts)

    def untrack(self, receipts: Iterable[str]) -> None:
        with self._lock:
            self._held.difference_update(receipts)

    def release(self, receipts: Iterable[str], delay: int = 0) -> None:
        """Stops extending these and makes them visible again after ``delay`` seconds (best effort:
        if this fails, they reappear when their current timeout runs out)."""
        receipts = list(receipts)
        self.untrack(receipts)
        if not receipts:
            return
        try:
            failed = self._sqs.change_visibility_batch(self._url, receipts, delay) or []
        except Exception as exc:  # noqa: BLE001
            log.warning("could not release %d message(s): %s", len(receipts), exc)
            return
        for f in failed:
            log.log(logging.DEBUG if f.receipt_is_invalid else logging.WARNING,
                    "could not release message %s: %s %s", _short(f.receipt), f.code, f.message)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                receipts = list(self._held)
            if not receipts:
                continue
            try:
                failed = self._sqs.change_visibility_batch(self._url, receipts, self._timeout) or []
                self.beats += 1
            except Exception as exc:  # noqa: BLE001 - try again next beat; the timeout leaves a margin
                log.warning("heartbeat failed for %d message(s): %s", len(receipts), exc)
                continue
            self._note_failures(failed)

    def _note_failures(self, failed) -> None:
        lost = [f.receipt for f in failed if f.receipt_is_invalid]
        if lost:
            self.untrack(lost)
            self.lost += len(lost)
        for f in failed:
            if f.receipt_is_invalid:
                log.warning("message %s is no longer held (%s): it went back to the queue or another worker "
                            "took it; no longer extending it", _short(f.receipt), f.code)
            else:
                log.warning("could not extend message %s: %s %s; trying again next beat", _short(f.receipt),
                            f.code, f.message)


def _short(receipt: str) -> str:
    """Enough of a receipt handle to tell messages apart in a log line."""
    return receipt if len(receipt) <= 20 else f"{receipt[:8]}...{receipt[-8:]}"
