"""Receivers: threads that keep the inbox topped up, several long polls in flight at once.

Receiving runs beside inference, so the next batch is in hand (and downloading) before the current
one finishes; with more than one receive in flight, a slow ReceiveMessage (SQS, or a moto server
with many messages queued) does not leave inference waiting.

A body that is not a valid request cannot be answered (there is no reply queue to answer to): it is
logged and moved to the dead-letter queue at once, kept for inspection instead of bouncing. So is a
request that names anything outside the project (``cloud.worker.admission``): it is refused before
anything is downloaded, written or sent for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cloud.worker.admission import Admission
from cloud.worker.inbox import Inbox, Work
from cloud.worker.visibility import Heartbeat
from shared.backoff import Backoff
from shared.config import MAX_BATCH
from shared.messages import MessageError, Request
from shared.sqs import Message, SQSService

log = logging.getLogger(__name__)

RESERVE_WAIT_SECONDS = 0.5  # how often a receiver with no room re-checks for a stop
RECEIVE_BACKOFF = Backoff(first=0.5, longest=10.0)  # pause after failed receives, jittered
RETRY_DELAY_SECONDS = 5  # a request that hit a transient failure becomes visible again after this


class Receivers:
    def __init__(
        self,
        sqs: SQSService,
        queue_url: str,
        dead_letter_url: Callable[[], str],
        wait_time: int,
        inbox: Inbox,
        heartbeat: Heartbeat,
        start_fetch: Callable[[Request], object],  # -> Future of cloud.worker.fetch.Fetched
        stopping: threading.Event,
        count: int = 2,
        admission: Admission | None = None,  # default: the checks of the SQS service's own config
    ):
        self._sqs = sqs
        self._url = queue_url
        self._dead_letter_url = dead_letter_url
        self._wait = wait_time
        self._inbox = inbox
        self._heartbeat = heartbeat
        self._start_fetch = start_fetch
        self._stopping = stopping
        self._admission = admission or Admission(sqs.cfg, queue_url)
        self.last_message_at = time.monotonic()  # for the idle timeout
        # Received after the stop: held (the heartbeat keeps them hidden) until every receiver has ended,
        # then given back at once. Given back earlier, another of this worker's open polls would receive
        # them again, and each receive counts towards the dead-letter queue's max_receives.
        self._held_back: list[str] = []
        self._held_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"receive-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> Receivers:
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> None:
        """Waits up to ``timeout`` in all; a receiver still in a long poll is left to end on its own
        (it is a daemon thread, and gives back whatever its poll returns once it sees the stop)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def held_back(self) -> list[str]:
        """The receipts received after the stop, to give back once the receivers have ended (and cleared)."""
        with self._held_lock:
            receipts, self._held_back = self._held_back, []
        return receipts

    def _hold_back(self, receipts: list[str]) -> None:
        with self._held_lock:
            self._held_back.extend(receipts)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            granted = self._inbox.reserve(MAX_BATCH, RESERVE_WAIT_SECONDS)
            if not granted:
                continue
            try:
                messages = self._sqs.receive(self._url, granted, wait=self._wait)
            except Exception as exc:  # noqa: BLE001 - keep polling; the loop must survive an outage
                self._inbox.unreserve(granted)
                failures += 1
                pause = RECEIVE_BACKOFF.delay(failures)
                log.warning("receive failed (%s); retrying in %.1f s", exc, pause)
                self._stopping.wait(pause)
                continue
            failures = 0
            if not messages:
                self._inbox.unreserve(granted)
                continue
            self.last_message_at = time.monotonic()
            self._heartbeat.track(m.receipt for m in messages)
            if self._stopping.is_set():  # nobody will take these: give them back once polling has ended
                self._inbox.unreserve(granted)
                self._hold_back([m.receipt for m in messages])
                continue
            try:
                works = [w for w in (self._admit(m, time.time()) for m in messages) if w is not None]
            except Exception:  # noqa: BLE001 - a bug must not end this thread: retry them later
                log.exception("could not take in %d message(s); they will be retried", len(messages))
                self._inbox.unreserve(granted)
                self._heartbeat.release([m.receipt for m in messages], delay=RETRY_DELAY_SECONDS)
                continue
            if self._stopping.is_set() or not self._inbox.put(works, granted):
                # Stopped while these were taken in: nobody will take them.
                for work in works:
                    work.fetch.cancel()
                self._hold_back([w.receipt for w in works])

    def _admit(self, message: Message, received: float) -> Work | None:
        try:
            request = Request.from_json(message.body)
        except MessageError as exc:
            self._dead_letter(message, f"malformed: {exc}")
            return None
        refusal = self._admission.refusal(request)
        if refusal is not None:
            self._dead_letter(message, f"refused: {refusal}")
            return None
        return Work(message=message, request=request, received=received, fetch=self._start_fetch(request))

    def _dead_letter(self, message: Message, reason: str) -> None:
        log.warning("request %s %s; moving it to the dead-letter queue; body starts %r",
                    message.id, reason, message.body[:200])
        try:
            self._sqs.send_batch(self._dead_letter_url(), [message.body])
            self._sqs.delete_batch(self._url, [message.receipt])
            self._heartbeat.untrack([message.receipt])
        except Exception as exc:  # noqa: BLE001 - after max_receives, SQS's redrive moves it there anyway
            log.warning("could not move %s to the dead-letter queue: %s", message.id, exc)
            self._heartbeat.release([message.receipt], delay=RETRY_DELAY_SECONDS)
