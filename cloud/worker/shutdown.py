"""Signals: the first SIGTERM or SIGINT asks the worker to drain; a second one exits at once."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """Holds the ``requested`` event the worker loop watches. ``install()`` (main thread only) routes
    SIGTERM and SIGINT here; ``request()`` does the same from code (tests, an idle timeout)."""

    def __init__(self, on_request: Callable[[], None] | None = None,
                 exit_now: Callable[[int], None] = os._exit):
        self.requested = threading.Event()
        self._on_request = on_request
        self._exit_now = exit_now
        self._previous: dict[int, object] = {}

    def install(self) -> Shutdown:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def request(self) -> None:
        if not self.requested.is_set():
            self.requested.set()
            if self._on_request is not None:
                self._on_request()

    def _handle(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.warning("%s again: exiting now", name)
            self._exit_now(128 + signum)
            return
        log.info("%s: finishing the batch in hand, then exiting (send it again to exit at once)", name)
        self.request()
