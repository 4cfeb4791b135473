"""The embedded local cloud: a moto server on a free loopback port, provisioned, with worker processes.

    with EmbeddedCloud(cfg, workers=2) as cloud:   # returns once every worker reported "ready"
        JobClient(cloud.cfg) ...                    # cloud.cfg has endpoint_url set
    # workers stopped (SIGTERM: they drain; SIGKILL after a grace period), then the moto server

`imgrec up` runs one in the foreground. The worker processes are a cloud.scaler LocalFleet, either
held at a fixed number or (``autoscale=True``) started and stopped by the autoscaler with the
backlog: zero while idle.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from cloud.local.server import LocalCloudError, MotoServer
from shared.config import Config
from shared.provision import Resources, provision

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
READY_TIMEOUT_SECONDS = 180.0  # process start, torch import and model load, on a busy machine
STOP_GRACE_SECONDS = 15.0  # SIGTERM, then SIGKILL whatever still runs after this
_LOG_TAIL_LINES = 8


class EmbeddedCloudError(RuntimeError):
    """The embedded cloud could not start; the message says which part and why."""


class EmbeddedCloud:
    def __init__(self, cfg: Config, workers: int = DEFAULT_WORKERS, *, port: int | None = None,
                 log_dir: str | Path | None = None, ready_timeout: float = READY_TIMEOUT_SECONDS,
                 worker_env: dict[str, str] | None = None, autoscale: bool = False,
                 scaler_log: str | Path | None = None):
        """``log_dir``: where each worker's stderr goes (``<worker_id>.log``); None: inherit stderr.
        ``autoscale``: ignore ``workers``; cloud.scaler runs min_workers..max_workers local workers
        (``scaler_log``: one JSON object per tick appended there)."""
        if workers < 0:
            raise ValueError("workers must not be negative")
        self.base_cfg = cfg
        self.worker_count = workers
        self.ready_timeout = ready_timeout
        self.log_dir = Path(log_dir) if log_dir else None
        self.worker_env = worker_env
        self.server = MotoServer(port)
        self.endpoint: str = self.server.endpoint
        self.cfg: Config = self.server.config(cfg)
        self.resources: Resources | None = None
        self.autoscale = autoscale
        self.scaler_log = scaler_log
        self.scaler = None  # cloud.scaler.loop.Scaler, with autoscale
        self.fleet = None  # cloud.local.fleet.LocalFleet: the worker processes, in both modes
        self.bundle = None  # cloud.worker.models.bundle.Bundle: the model published for the workers (onnx)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> EmbeddedCloud:
        try:
            self.server.start()
            self.resources = provision(self.cfg)
            self._publish_model()
            self._start_fleet()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> EmbeddedCloud:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stops every worker this cloud started (SIGTERM, then SIGKILL after ``grace``), then moto."""
        if self.scaler is not None:
            self.scaler.stop()  # the loop, then its fleet (the workers drain)
        elif self.fleet is not None:
            self.fleet.close(grace)
        self.server.stop()

    def _publish_model(self) -> None:
        """The onnx engine's workers fetch the model bundle from the output bucket: put it there."""
        from cloud.worker.models.engine import chosen_engine
        from cloud.worker.models.errors import ModelError
        from cloud.worker.models.store import publish_model

        if chosen_engine(self.cfg) != "onnx":
            return
        try:
            self.bundle = publish_model(self.cfg)
        except ModelError as exc:
            raise EmbeddedCloudError(f"the model could not be published for the workers: {exc}") from None

    # --- workers -------------------------------------------------------------------------------
    def _start_fleet(self) -> None:
        """The autoscaler over a local fleet; or a fixed number of workers, each ready before this returns."""
        if self.autoscale:
            from cloud.local.scaler import start_local_scaler

            self.scaler = start_local_scaler(self.cfg, log_dir=self.log_dir, worker_env=self.worker_env,
                                             log_json=self.scaler_log)
            self.fleet = self.scaler.fleet
            return
        from cloud.local.fleet import LocalFleet
        from cloud.local.priority import WORKERS

        count = self.worker_count
        self.fleet = LocalFleet(self.cfg, max_workers=count, options=WORKERS, log_dir=self.log_dir,
                                worker_env=self.worker_env, max_booting=max(1, count))
        if count:
            self.fleet.scale_to(count)
            self._wait_ready(count)

    def _wait_ready(self, count: int) -> None:
        """Returns when ``count`` workers run; raises EmbeddedCloudError if one exits first or is late."""
        deadline = time.monotonic() + self.ready_timeout
        while self.fleet.observe().running < count:
            if self.fleet.exited:
                worker_id, code, _lived = self.fleet.exited[0]
                tail = self._log_tail(worker_id)
                raise EmbeddedCloudError(
                    f"worker {worker_id} exited with code {code} before it was ready"
                    + (f"; the end of its log ({self.log_dir / (worker_id + '.log')}):\n{tail}" if tail else ""))
            if time.monotonic() > deadline:
                raise EmbeddedCloudError(f"{count} worker(s) were not ready within {self.ready_timeout:.0f} s")
            self.fleet.changed.wait(0.2)
            self.fleet.changed.clear()

    def _log_tail(self, worker_id: str) -> str:
        path = self.log_dir / f"{worker_id}.log" if self.log_dir else None
        if path is None or not path.is_file():
            return ""
        return "\n".join("    " + line for line in path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:])

    def worker_counts(self) -> tuple[int, int]:
        """(running, booting) workers."""
        if self.fleet is None:
            return 0, 0
        state = self.fleet.observe()
        return state.running, state.booting

    def describe(self) -> list[str]:
        """The lines `imgrec up` prints: endpoint first, then buckets and queues."""
        lines = [f"endpoint: {self.endpoint}"]
        if self.resources is not None:
            lines += [f"bucket {role}: {name}" for role, name in self.resources.buckets.items()]
            lines += [f"queue {role}: {url}" for role, url in self.resources.queues.items()]
        if self.bundle is not None:
            lines.append(f"model: {self.bundle.model} (onnx bundle {self.bundle.sha256[:12]}, published)")
        return lines


def up_command(cfg: Config, args: argparse.Namespace) -> int:
    """`imgrec up`: the embedded cloud in the foreground until SIGINT/SIGTERM, sent to it or to its whole
    process group (Ctrl-C): the workers are not in that group, so each is stopped once, here, and drains."""
    workers = getattr(args, "workers", None)  # None: the autoscaler
    stop = threading.Event()
    started = threading.Event()

    def on_signal(signum, _frame) -> None:
        if started.is_set():
            stop.set()
        else:
            raise KeyboardInterrupt  # still starting: unwind, stopping what was started

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cloud = EmbeddedCloud(cfg, workers=workers or 0, port=getattr(args, "port", None), autoscale=workers is None,
                              scaler_log=getattr(args, "scaler_log", None))
        fleet = f"{workers} worker(s)" if workers is not None else "the autoscaler"
        print(f"starting a moto server on {cloud.endpoint} and {fleet}…", file=sys.stderr, flush=True)
        with cloud:
            started.set()
            for line in cloud.describe():
                print(line, flush=True)
            if cloud.scaler is not None:
                s = cloud.scaler.settings
                print(f"workers: autoscaled, {s.min_workers} to {s.max_workers}", flush=True)
            else:
                print(f"workers: {workers} ready", flush=True)
            print(f"use it with: imgrec classify --endpoint {cloud.endpoint} PATH…   (Ctrl-C stops)",
                  file=sys.stderr, flush=True)
            _supervise(cloud, stop)
            print("stopping…", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("imgrec up: interrupted while starting", file=sys.stderr)
        return 130
    except (EmbeddedCloudError, LocalCloudError) as exc:
        print(f"imgrec up: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _supervise(cloud: EmbeddedCloud, stop: threading.Event) -> None:
    """Waits for a stop signal; says so when the moto server dies. The fleet logs a worker that exits
    on its own when it next looks (the scaler looks every tick; fixed workers are looked at here)."""
    while not stop.wait(1.0):
        server = cloud.server.process
        if server is not None and server.poll() is not None:
            print(f"imgrec up: the moto server exited with code {server.returncode}", file=sys.stderr, flush=True)
            return
        if cloud.scaler is None and cloud.fleet is not None:
            cloud.fleet.observe()
