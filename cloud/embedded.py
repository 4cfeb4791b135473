"""The embedded local cloud: a moto server on a free loopback port, provisioned, with worker processes.

    with EmbeddedCloud(cfg, workers=2) as cloud:   # returns once every worker reported "ready"
        JobClient(cloud.cfg) ...                    # cloud.cfg has endpoint_url set
    # workers stopped (SIGTERM: they drain; SIGKILL after a grace period), then the moto server

`imgrec up` runs one in the foreground. Workers are either a fixed number, or (``autoscale=True``)
worker processes that cloud.scaler starts and stops with the backlog: zero while idle.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import Config
from shared.local_cloud import LocalCloudError, MotoServer
from shared.provision import Resources, provision

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
READY_TIMEOUT_SECONDS = 180.0  # process start, torch import and model load, on a busy machine
STOP_GRACE_SECONDS = 15.0  # SIGTERM, then SIGKILL whatever still runs after this
_LOG_TAIL_LINES = 8


class EmbeddedCloudError(RuntimeError):
    """The embedded cloud could not start; the message says which part and why."""


@dataclass
class LocalWorker:
    """A worker process this cloud started, and the last state it reported on stdout."""
    worker_id: str
    process: subprocess.Popen
    log_path: Path | None = None
    state: str = "loading"
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join("    " + line for line in lines)


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
        self.workers: list[LocalWorker] = []
        self.autoscale = autoscale
        self.scaler_log = scaler_log
        self.scaler = None  # cloud.scaler.daemon.Scaler, with autoscale
        self._next_id = 1
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> EmbeddedCloud:
        try:
            self.server.start()
            self.resources = provision(self.cfg)
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
            self.scaler.stop()  # the loop, then its workers (they drain)
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            if worker.alive:
                try:
                    worker.process.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for worker in workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %s did not stop within %.0f s: killed", worker.worker_id, grace)
                worker.process.kill()
                worker.process.wait()
        for worker in workers:
            if worker.reader is not None:
                worker.reader.join(timeout=2)
        self.server.stop()

    # --- workers -------------------------------------------------------------------------------
    def _start_fleet(self) -> None:
        """A fixed number of workers, each ready before this returns; or the autoscaler."""
        if self.autoscale:
            from cloud.scaler.local import start_local_scaler

            self.scaler = start_local_scaler(self.cfg, log_dir=self.log_dir, worker_env=self.worker_env,
                                             log_json=self.scaler_log)
            return
        started = [self.start_worker() for _ in range(self.worker_count)]
        self.wait_ready(started, self.ready_timeout)

    def _thread_env(self) -> dict[str, str]:
        # Several torch processes on few cores: share the cores instead of each taking them all.
        env = dict(self.worker_env or {})
        if self.worker_count > 1 and "OMP_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in env:
            threads = max(1, (os.cpu_count() or 1) // self.worker_count)
            env["OMP_NUM_THREADS"] = str(threads)
        return env

    def start_worker(self) -> LocalWorker:
        """Starts one more worker process (without waiting for it to be ready)."""
        from cloud.worker.process import spawn_worker

        with self._lock:
            worker_id = f"local-{self._next_id}"
            self._next_id += 1
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{worker_id}.log"
        process = spawn_worker(self.cfg, worker_id, log_path=log_path, env=self._thread_env())
        worker = LocalWorker(worker_id, process, log_path)
        worker.reader = threading.Thread(target=self._read_status, args=(worker,), name=f"status-{worker_id}",
                                         daemon=True)
        worker.reader.start()
        with self._lock:
            self.workers.append(worker)
        log.debug("started worker %s (pid %d)", worker_id, process.pid)
        return worker

    def _read_status(self, worker: LocalWorker) -> None:
        """Reads the worker's status lines until its stdout closes (keeps the pipe from filling up)."""
        from cloud.worker.status import parse_status_line

        stream = worker.process.stdout
        if stream is None:
            return
        try:
            for line in stream:
                event = parse_status_line(line)
                if event is None:
                    continue
                worker.state = event["state"]
                if worker.state not in ("loading", "stopped"):
                    worker.ready.set()
        except (OSError, ValueError):
            pass
        finally:
            worker.state = "stopped"

    def wait_ready(self, workers: list[LocalWorker], timeout: float) -> None:
        """Returns when each worker said it is ready; raises EmbeddedCloudError if one exits or is late."""
        deadline = time.monotonic() + timeout
        for worker in workers:
            while not worker.ready.wait(0.1):
                if not worker.alive and not worker.ready.is_set():
                    tail = worker.log_tail()
                    raise EmbeddedCloudError(
                        f"worker {worker.worker_id} exited with code {worker.process.returncode} before it was "
                        f"ready" + (f"; the end of its log ({worker.log_path}):\n{tail}" if tail else ""))
                if time.monotonic() > deadline:
                    raise EmbeddedCloudError(f"worker {worker.worker_id} was not ready within {timeout:.0f} s")

    def worker_counts(self) -> tuple[int, int]:
        """(running, booting) among the workers still alive."""
        if self.scaler is not None:
            state = self.scaler.fleet.observe()
            return state.running, state.booting
        with self._lock:
            alive = [w for w in self.workers if w.alive]
        running = sum(1 for w in alive if w.ready.is_set())
        return running, len(alive) - running

    def describe(self) -> list[str]:
        """The lines `imgrec up` prints: endpoint first, then buckets and queues."""
        lines = [f"endpoint: {self.endpoint}"]
        if self.resources is not None:
            lines += [f"bucket {role}: {name}" for role, name in self.resources.buckets.items()]
            lines += [f"queue {role}: {url}" for role, url in self.resources.queues.items()]
        return lines


def up_command(cfg: Config, args: argparse.Namespace) -> int:
    """`imgrec up`: the embedded cloud in the foreground until SIGINT/SIGTERM."""
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
                pool = getattr(cloud.scaler.fleet, "standby_target", 0)
                extra = f" ({pool} kept loaded on standby for a fast first start)" if pool else ""
                print(f"workers: autoscaled, {s.min_workers} to {s.max_workers}{extra}", flush=True)
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
    """Waits for a stop signal; says so when a worker or the moto server dies on its own."""
    reported: set[str] = set()
    while not stop.wait(1.0):
        server = cloud.server.process
        if server is not None and server.poll() is not None:
            print(f"imgrec up: the moto server exited with code {server.returncode}", file=sys.stderr, flush=True)
            return
        for worker in list(cloud.workers):
            if not worker.alive and worker.worker_id not in reported:
                reported.add(worker.worker_id)
                log.warning("worker %s exited with code %s", worker.worker_id, worker.process.returncode)
