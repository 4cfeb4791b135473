"""Whether the endpoint still answers, as a long-running client's background calls see it: the job
client's reply receivers and its look for results in S3. A run of connection failures is logged once at
its start and then every ``warn_every`` seconds (not once per poll), and ``silent_for`` tells how long it
has lasted, so that a job can end with a clear message when its endpoint went away (a killed
`imgrec up`, a lost network) instead of waiting out its result timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

CONNECTION_ERRORS = (BotoConnectionError, HTTPClientError)  # refused, reset, timed out: not an AWS answer


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, CONNECTION_ERRORS)


class EndpointWatch:
    def __init__(self, log: logging.Logger, warn_every: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._log, self._warn_every, self._clock = log, warn_every, clock
        self._lock = threading.Lock()
        self._since: float | None = None  # the first failure of the current run
        self._warned = float("-inf")
        self.last_error = ""

    def failed(self, what: str, exc: BaseException) -> None:
        """A call failed: connection failures make a run, logged sparsely; anything else is logged."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if not is_connection_error(exc):
            self._log.warning("%s: %s", what, text)
            return
        now = self._clock()
        with self._lock:
            if self._since is None:
                self._since = now
            self.last_error = text
            quiet = now - self._warned < self._warn_every
            if not quiet:
                self._warned = now
            lasted = now - self._since
        if not quiet:
            self._log.warning("%s: %s%s", what, text, f" (for {lasted:.0f} s now)" if lasted >= 1 else "")

    def answered(self) -> None:
        with self._lock:
            if self._since is not None:
                self._log.info("the endpoint answers again")
            self._since = None
            self._warned = float("-inf")

    def silent_for(self) -> float:
        """Seconds since the current run of connection failures began; 0 while the endpoint answers."""
        with self._lock:
            return 0.0 if self._since is None else self._clock() - self._since
