"""What a worker tells its supervisors about itself: its state, and how fast it works.

:class:`StatusReporter` writes both channels of :mod:`shared.worker_status` (which also reads them): a
JSON line on stdout per state change (with ``--status-stdout``, for a local supervisor; logs go to
stderr, so stdout carries nothing else), and while the measured rate changes, the current state again
with the new rate, at most every ``RATE_LINE_SECONDS`` (a supervisor therefore takes a line's state as a
change only when it differs from the last one); and the status object ``workers/<worker_id>.json`` in
the output bucket, written on each state change and refreshed every ``REFRESH_SECONDS``, for a remote
scaler. The flag is explicit rather than guessed from stdout being a pipe: a worker run by systemd or
under ``| tee`` should not print JSON by surprise.

The rate (``images_per_s``) is images answered per second of *busy wall time*: the seconds the worker
spent in state ``busy``, holding work (downloading, classifying and publishing, those stages
overlapping). So it is the end-to-end speed at which one worker drains a backlog, not the model's speed
alone, and time spent idle does not dilute it. Each published batch is one sample (its images, and the
busy seconds since the previous sample); the rate is the total of the newest samples that hold at
least ``RATE_WINDOW_IMAGES`` images, so a change of speed shows within a few batches and one slow
batch (the first, warming up) does not dominate it. A worker fed one image at a time reports its
latency rather than its capacity (lower); under a backlog the figure is its throughput.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TextIO

from shared.layout import worker_status_key
from shared.worker_status import BUSY, REFRESH_SECONDS, status_line, status_object

RATE_WINDOW_IMAGES = 256  # the rate covers the newest batches holding at least this many images
RATE_LINE_SECONDS = 1.0  # a changed rate is repeated on stdout at most this often

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class StatusReporter:
    """Announces state changes and the measured rate on stdout (optional) and in the output bucket
    (optional).

    ``set`` and ``add_processed`` never block on the network: the S3 object is written by a background
    thread. ``add_processed(n)`` is called once per published batch (the worker loop's ``on_done``).
    """

    def __init__(self, worker_id: str, *, stdout: TextIO | None = None, s3=None, bucket: str | None = None,
                 model: str | None = None, refresh: float = REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.worker_id = worker_id
        self.model = model
        self._stdout = stdout
        self._s3 = s3 if bucket else None
        self._bucket = bucket
        self._refresh = refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._state: str | None = None
        self._since = time.time()
        self._processed = 0
        # Busy wall time: seconds spent in state busy before the current stretch, and when it began.
        self._busy_seconds = 0.0
        self._busy_from: float | None = None
        self._sampled_at = 0.0  # busy seconds counted into samples so far
        self._samples: collections.deque[tuple[int, float]] = collections.deque()  # (images, busy seconds)
        self._rate: float | None = None
        self._rate_line_at = -math.inf
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str | None:
        return self._state

    @property
    def processed(self) -> int:
        return self._processed

    @property
    def images_per_s(self) -> float | None:
        """The measured rate (see the module's docstring); None before the first busy batch."""
        return self._rate

    def add_processed(self, count: int) -> None:
        """Counts a published batch of ``count`` answered images as one rate sample."""
        with self._lock:
            self._processed += count
            now = self._clock()
            busy = self._busy_seconds + (now - self._busy_from if self._busy_from is not None else 0.0)
            elapsed, self._sampled_at = busy - self._sampled_at, busy
            if count <= 0:
                return
            self._samples.append((count, elapsed))
            images = sum(n for n, _ in self._samples)
            while len(self._samples) > 1 and images - self._samples[0][0] >= RATE_WINDOW_IMAGES:
                images -= self._samples.popleft()[0]
            seconds = sum(s for _, s in self._samples)
            if seconds <= 0:
                return
            self._rate = images / seconds
            if self._state is not None and now - self._rate_line_at >= RATE_LINE_SECONDS:
                self._rate_line_at = now
                self._write(status_line(self._state, self.worker_id, images_per_s=self._rate))

    def set(self, state: str) -> None:
        with self._lock:
            if state == self._state:
                return
            now = self._clock()
            if self._busy_from is not None:
                self._busy_seconds += now - self._busy_from
            self._busy_from = now if state == BUSY else None
            self._state, self._since = state, time.time()
            self._write(status_line(state, self.worker_id, self._since, self._rate))
        log.debug("state %s", state)
        self._dirty.set()
        if self._s3 is not None and self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._publish_loop, name="status", daemon=True)
            self._thread.start()

    def _write(self, line: str) -> None:
        if self._stdout is None:
            return
        try:
            self._stdout.write(line + "\n")
            self._stdout.flush()
        except (OSError, ValueError):  # the supervisor closed its end: keep working
            self._stdout = None

    def snapshot(self) -> dict:
        with self._lock:
            return status_object(self.worker_id, self._state, self._since, self._rate, processed=self._processed,
                                 model=self.model, host=socket.gethostname(), pid=os.getpid())

    def close(self) -> None:
        """Stops the refresh thread and writes the last state (``stopped``, normally) synchronously."""
        self._closed.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._publish()

    def _publish_loop(self) -> None:
        while not self._closed.is_set():
            self._dirty.wait(self._refresh)
            self._dirty.clear()
            if self._closed.is_set():
                return
            self._publish()

    def _publish(self) -> None:
        if self._s3 is None:
            return
        try:
            self._s3.put_json(self._bucket, worker_status_key(self.worker_id), self.snapshot())
        except Exception as exc:  # noqa: BLE001 - status is advisory: never let it stop the work
            log.warning("could not write the status object to s3://%s: %s", self._bucket, exc)
