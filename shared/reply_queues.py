"""Clients' reply queues: made with an expiry tag, kept alive by their client, removed once it is dead.

Each client (``JobClient``) has a reply queue of its own and deletes it on close; a client that is
killed (SIGKILL, a power cut) leaves it behind, full of replies nobody will read. So a reply queue is
created with the tag ``imgrec:expires`` (Unix seconds), a live client's :class:`Renewer` pushes it
forward every quarter of the TTL, and :func:`prune` (the scaler every few minutes, ``imgrec status
--prune``) deletes the reply queues whose expiry has passed. A queue made before this tag existed
counts as expired once it is older than the retention of its messages.

Expiry is wall-clock time, compared on the pruning machine: clocks that disagree by less than the
TTL less the renewal interval (45 minutes by default) cannot remove a live client's queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

from botocore.exceptions import BotoCoreError, ClientError

from shared.config import Config
from shared.sqs import SQSService, queue_is_missing

log = logging.getLogger(__name__)

REPLY_RETENTION_SECONDS = 24 * 3600  # replies of a client that is away this long are dropped
EXPIRES_TAG = "imgrec:expires"  # Unix seconds, an integer
TTL_SECONDS = 3600  # a client that has not renewed its queue for this long is taken for dead
RENEWALS_PER_TTL = 4  # a live client renews this often per TTL: three renewals may fail before expiry
STOP_JOIN_SECONDS = 10.0  # Renewer.stop waits this long, at most, for a renewal in flight


def _expiry(now: float, ttl_seconds: float) -> dict[str, str]:
    return {EXPIRES_TAG: str(int(now + ttl_seconds))}


def create(sqs: SQSService, name: str, ttl_seconds: float = TTL_SECONDS, now: float | None = None) -> str:
    """Creates the reply queue ``name``, tagged to expire ``ttl_seconds`` from now; returns its URL."""
    now = time.time() if now is None else now
    return sqs.create_queue(name, {"MessageRetentionPeriod": str(REPLY_RETENTION_SECONDS),
                                   "SqsManagedSseEnabled": "true"},  # encrypted at rest, like our other queues
                            tags=_expiry(now, ttl_seconds))


def renew(sqs: SQSService, url: str, ttl_seconds: float = TTL_SECONDS, now: float | None = None) -> None:
    """Moves the queue's expiry to ``ttl_seconds`` from now. Raises ClientError when the queue is gone."""
    now = time.time() if now is None else now
    sqs.tag(url, _expiry(now, ttl_seconds))


class Renewer:
    """Keeps a live client's reply queue from expiring, on a thread of its own: a client idle between
    jobs is alive too. If a pruner removed the queue anyway (a laptop asleep longer than the TTL), the
    next renewal creates it again under the same name, hence the same URL.

    >>> renewer = Renewer(sqs, name, url).start()
    >>> ...
    >>> renewer.stop()   # before the client deletes its queue
    """

    def __init__(self, sqs: SQSService, name: str, url: str, ttl_seconds: float = TTL_SECONDS,
                 every: float | None = None):
        self.every = ttl_seconds / RENEWALS_PER_TTL if every is None else every
        if not 0 < self.every < ttl_seconds:
            raise ValueError(f"a reply queue must be renewed more often than its TTL ({ttl_seconds} s), "
                             f"not every {self.every} s")
        self.sqs, self.name, self.url, self.ttl_seconds = sqs, name, url, ttl_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Renewer:
        if self._thread is not None:
            raise RuntimeError("this renewer is already running")
        self._thread = threading.Thread(target=self._run, name="imgrec-reply-renewer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_JOIN_SECONDS) -> None:
        """Ends the thread, waiting (at most ``timeout`` s) for a renewal in flight. Safe to call twice."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            self.renew_once()

    def renew_once(self) -> None:
        """One renewal; never raises (a failure is logged, and the next renewal comes soon enough)."""
        try:
            renew(self.sqs, self.url, self.ttl_seconds)
        except ClientError as exc:
            if not queue_is_missing(exc):
                log.warning("could not renew reply queue %s: %s", self.name, exc)
            elif not self._stopping.is_set():  # not the client's own close() deleting it
                self._create_again()
        except BotoCoreError as exc:
            log.warning("could not renew reply queue %s: %s", self.name, exc)

    def _create_again(self) -> None:
        try:
            create(self.sqs, self.name, self.ttl_seconds)
            log.warning("reply queue %s had been removed as expired (was this client asleep?); created it "
                        "again", self.name)
        except (ClientError, BotoCoreError) as exc:
            log.warning("reply queue %s had been removed as expired and could not be created again: %s",
                        self.name, exc)


def expires_at(sqs: SQSService, url: str) -> float:
    """When the queue counts as expired, in Unix seconds: its tag, or for a queue without one (made by an
    older build) its creation plus the retention. Raises ClientError when the queue is gone."""
    raw = sqs.tags(url).get(EXPIRES_TAG)
    if raw is not None:
        try:
            return float(raw)
        except ValueError:
            log.warning("reply queue %s has an unreadable %s tag %r: going by its age", url, EXPIRES_TAG, raw)
    return sqs.created(url) + REPLY_RETENTION_SECONDS


def prune(sqs: SQSService, prefix: str, now: float | None = None, *, keep: Collection[str] = ()) -> list[str]:
    """Deletes the queues whose names start with ``prefix`` and whose expiry has passed, except those
    named in ``keep``; returns the names deleted. A queue that vanishes meanwhile is skipped; any other
    error ends the prune and is raised (the next prune tries again)."""
    if not prefix:
        raise ValueError("no reply queue prefix: pruning would consider every queue")
    now = time.time() if now is None else now
    deleted: list[str] = []
    for url in sqs.queue_urls(prefix):
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith(prefix) or name in keep:
            continue
        try:
            expired = expires_at(sqs, url)
            if now < expired:
                continue
            sqs.delete_queue(url)  # a queue already gone is fine
        except ClientError as exc:
            if queue_is_missing(exc):
                continue
            raise
        log.info("removed reply queue %s: expired %.0f s ago (its client is gone)", name, now - expired)
        deleted.append(name)
    return deleted


def prune_for(cfg: Config, sqs: SQSService, now: float | None = None) -> list[str]:
    """:func:`prune` with this configuration's reply prefix, never touching its request or dead-letter
    queue (should their names start with the prefix)."""
    return prune(sqs, cfg.reply_queue_prefix, now, keep=(cfg.request_queue, cfg.dead_letter_queue))
