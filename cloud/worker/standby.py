"""Standby (``imgrec worker --standby``): load the model, then wait for SIGUSR1 before polling.

The local fleet keeps such processes as a warm pool, as the EC2 fleet keeps stopped instances: the
cold start (importing torch, loading the model: seconds) is paid before there is work, and activating
a standby worker takes a fraction of a second. A standby worker announces ``standby``, does not touch
the queue and uses no CPU; SIGUSR1 makes it go on as a normal worker (``ready``, polling). SIGTERM or
SIGINT while it waits ends it at once (exit 0): there is nothing in hand to drain.
"""

from __future__ import annotations

import signal
import threading

ACTIVATE_SIGNAL = signal.SIGUSR1
_CHECK_SECONDS = 0.5  # how often the wait looks at the stop event (signal handlers set both events)


class Standby:
    """``install()`` (main thread, before the model loads, so an early SIGUSR1 is kept rather than
    fatal) routes SIGUSR1 to ``activated`` for the rest of the process's life (a repeated SIGUSR1 is
    harmless); ``wait(stop)`` returns True once activated, False if ``stop`` was set first."""

    def __init__(self):
        self.activated = threading.Event()

    def install(self) -> Standby:
        signal.signal(ACTIVATE_SIGNAL, lambda *_: self.activated.set())
        return self

    def wait(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            if self.activated.wait(_CHECK_SECONDS):
                return True
        return False
