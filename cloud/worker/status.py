"""What a worker tells its supervisors about itself.

Two channels, the same states:

* with ``--status-stdout``, one JSON line per state change on stdout, flushed at once, for a local
  supervisor that started the process (the embedded cloud, the autoscaler's local fleet)::

      {"event": "state", "state": "ready", "worker_id": "local-1", "ts": 1767000000.123}

  Logs go to stderr, so stdout carries nothing else. The flag is explicit rather than guessed from
  stdout being a pipe: a worker run by systemd or under ``| tee`` should not print JSON by surprise.
* a small object ``workers/<worker_id>.json`` in the output bucket (state, ts, processed, host,
  pid, model), written on each state change and refreshed every few seconds, for a remote scaler.

States, in order: ``loading`` (importing, loading the model), ``standby`` (only with ``--standby``: model
loaded, waiting for SIGUSR1 without polling; see :mod:`cloud.worker.standby`), ``ready`` (model loaded, about to poll),
``busy`` (a batch in hand), ``idle`` (nothing in hand), ``draining`` (stopping: finishing the batch in
hand), ``stopped`` (about to exit).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import TextIO

from shared.layout import worker_status_key

LOADING, READY, BUSY, IDLE, DRAINING, STOPPED = "loading", "ready", "busy", "idle", "draining", "stopped"
STANDBY = "standby"
STATES = (LOADING, STANDBY, READY, BUSY, IDLE, DRAINING, STOPPED)
STATUS_REFRESH_SECONDS = 5.0  # the S3 status object is rewritten at least this often while running

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def status_line(state: str, worker_id: str, ts: float | None = None) -> str:
    if state not in STATES:
        raise ValueError(f"unknown worker state {state!r}")
    return json.dumps({"event": "state", "state": state, "worker_id": worker_id,
                       "ts": round(time.time() if ts is None else ts, 3)})


def parse_status_line(line: str) -> dict | None:
    """The event of a status line, or None for anything else (a stray print)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("event") == "state" and event.get("state") in STATES:
        return event
    return None


class StatusReporter:
    """Announces state changes on stdout (optional) and in the output bucket (optional).

    ``set`` never blocks on the network: the S3 object is written by a background thread.
    """

    def __init__(self, worker_id: str, *, stdout: TextIO | None = None, s3=None, bucket: str | None = None,
                 model: str | None = None, refresh: float = STATUS_REFRESH_SECONDS):
        self.worker_id = worker_id
        self.model = model
        self._stdout = stdout
        self._s3 = s3 if bucket else None
        self._bucket = bucket
        self._refresh = refresh
        self._lock = threading.Lock()
        self._state: str | None = None
        self._since = time.time()
        self._processed = 0
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str | None:
        return self._state

    @property
    def processed(self) -> int:
        return self._processed

    def add_processed(self, count: int) -> None:
        with self._lock:
            self._processed += count

    def set(self, state: str) -> None:
        with self._lock:
            if state == self._state:
                return
            self._state, self._since = state, time.time()
            line = status_line(state, self.worker_id, self._since)
            if self._stdout is not None:
                try:
                    self._stdout.write(line + "\n")
                    self._stdout.flush()
                except (OSError, ValueError):  # the supervisor closed its end: keep working
                    self._stdout = None
        log.debug("state %s", state)
        self._dirty.set()
        if self._s3 is not None and self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._publish_loop, name="status", daemon=True)
            self._thread.start()

    def snapshot(self) -> dict:
        with self._lock:
            return {"worker_id": self.worker_id, "state": self._state, "ts": round(time.time(), 3),
                    "since": round(self._since, 3), "processed": self._processed, "model": self.model,
                    "host": socket.gethostname(), "pid": os.getpid()}

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
