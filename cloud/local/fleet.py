"""The local fleet: classifier worker processes on this machine (the embedded cloud's default).

Each worker is a ``python -m cloud.worker`` process started by
:func:`cloud.worker.process.spawn_worker` with the fleet's :class:`~cloud.local.priority.SpawnOptions`
(in every mode :data:`~cloud.local.priority.WORKERS`: a session of its own, niceness 10, set at the
start), never more than its cap at once. A signal to this process's group does not reach it (this
fleet stops it, once); it stops by itself should this process die. It
prints JSON status lines on stdout (``{"event": "state", "state": "loading" | "ready" | "busy" |
"idle" | "draining" | "stopped", "images_per_s": ..., ...}``, see :mod:`shared.worker_status`); a
reader thread per worker turns those lines into the fleet's view:

* booting: spawned, no ``ready`` yet (process start, model load);
* running: ``ready`` / ``idle`` (idle) or ``busy``;
* draining: sent SIGTERM (the worker finishes the batch in hand and exits 0);

and keeps each worker's latest measured rate for the policy.

Scale-in sends SIGTERM to idle workers only, the longest idle first. Exited processes are reaped
on every observation. :meth:`LocalFleet.close` stops every process this fleet started, by handle.
A worker that dies on its own is logged and replaced on a later tick, after a back-off that
doubles while starts keep failing (a model that cannot load must not become a fork loop).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cloud.local.priority import SpawnOptions
from cloud.scaler.defaults import LOCAL_MAX_BOOTING, worker_config
from cloud.scaler.fleet import FleetState, FleetWorker, ScaleResult
from shared.backoff import Backoff
from shared.config import Config
from shared.worker_status import BUSY, DRAINING, IDLE_STATES, LOADING, parse_status_line

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 15.0  # close(): SIGTERM, then SIGKILL whatever is still running after this
RESTART_BACKOFF = Backoff(first=1.0, longest=60.0)  # pause after a worker died on its own, doubling

SpawnFn = Callable[..., subprocess.Popen]


def _default_spawn(cfg: Config, worker_id: str, extra_args: Sequence[str] = (), *, log_path: Path | None = None,
                   env: dict[str, str] | None = None, session: bool = False, niceness: int = 0) -> subprocess.Popen:
    from cloud.worker.process import spawn_worker

    return spawn_worker(cfg, worker_id, extra_args, log_path=log_path, env=env, session=session, niceness=niceness)


def thread_env(max_workers: int) -> dict[str, str]:
    """Several worker processes on few cores share them instead of each taking them all."""
    if "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // max(1, max_workers)))}


@dataclass
class _Process:
    id: str
    handle: subprocess.Popen
    started: float
    state: str = LOADING
    since: float = 0.0
    ready_at: float | None = None
    terminated: bool = False  # we sent SIGTERM
    images_per_s: float | None = None  # its latest measured rate
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def condition(self) -> str:
        if self.terminated or self.state == DRAINING:
            return "draining"
        return "booting" if self.ready_at is None else "running"


class LocalFleet:
    kind = "local"

    def __init__(self, cfg: Config, spawn: SpawnFn | None = None, extra_args: Sequence[str] = (), *,
                 max_workers: int, options: SpawnOptions, log_dir: str | Path | None = None,
                 worker_env: dict[str, str] | None = None, max_booting: int = LOCAL_MAX_BOOTING,
                 clock: Callable[[], float] = time.time):
        """``max_workers``: the cap, never more worker processes at once (and the cores are shared among
        that many); ``options``: how each worker is started (session, niceness: see cloud.local.priority);
        ``log_dir``: each worker's stderr goes to ``<log_dir>/<worker_id>.log`` (None: inherited);
        ``worker_env``: extra environment for the workers, over :func:`thread_env` for the cap."""
        self.cfg = worker_config(cfg, "local")
        self._spawn = spawn or _default_spawn
        self.options = options
        self._extra_args = tuple(extra_args)
        self.max_booting = max_booting
        self._log_dir = Path(log_dir) if log_dir else None
        self.max_workers = max_workers
        self._worker_env = {**thread_env(self.max_workers), **(worker_env or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._procs: dict[str, _Process] = {}
        self._ids = itertools.count(1)
        self._last_busy: float | None = None
        self._failures = 0
        self._retry_after = 0.0
        self.changed = threading.Event()
        # (worker id, exit code, seconds it lived) of every worker reaped: for logs and benchmarks.
        self.exited: list[tuple[str, int, float]] = []
        self.first_ready_at: float | None = None

    # --- observation -------------------------------------------------------------------------
    def observe(self) -> FleetState:
        with self._lock:
            self._reap()
            now = self._clock()
            if any(p.state == BUSY and not p.terminated for p in self._procs.values()):
                self._last_busy = now
            workers = tuple(FleetWorker(p.id, p.condition, p.state, p.since, p.images_per_s)
                            for p in self._procs.values())
            return FleetState(workers=workers, last_busy=self._last_busy)

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {p.id: p.handle.pid for p in self._procs.values()}

    # --- action ------------------------------------------------------------------------------
    def scale_to(self, desired: int) -> ScaleResult:
        desired = min(desired, self.max_workers)
        with self._lock:
            self._reap()
            active = [p for p in self._procs.values() if p.condition in ("booting", "running")]
            if desired > len(active):
                wanted = desired - len(active)
                booting = sum(1 for p in active if p.condition == "booting")
                count = min(wanted, max(0, self.max_booting - booting))
                result = self._launch(count) if count else ScaleResult()
                if len(result.launched) < wanted and not result.note:
                    result = replace(result, note=f"{wanted - len(result.launched)} more as workers become ready")
                return result
            if desired < len(active):
                return self._remove(len(active) - desired, active)
            return ScaleResult()

    def _launch(self, count: int) -> ScaleResult:
        now = self._clock()
        if now < self._retry_after:
            return ScaleResult(note=f"a worker failed to run; next start in {self._retry_after - now:.0f} s")
        return ScaleResult(launched=tuple(self._start(now).id for _ in range(count)))

    def _start(self, now: float) -> _Process:
        worker_id = f"local-{next(self._ids)}"
        log_path = None
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self._log_dir / f"{worker_id}.log"
        handle = self._spawn(self.cfg, worker_id, self._extra_args, log_path=log_path, env=self._worker_env,
                             session=self.options.session, niceness=self.options.niceness)
        proc = _Process(id=worker_id, handle=handle, started=now, since=now)
        proc.reader = threading.Thread(target=self._read, args=(proc,), name=f"fleet-{worker_id}", daemon=True)
        self._procs[worker_id] = proc
        proc.reader.start()
        log.debug("spawned %s (pid %d)", worker_id, handle.pid)
        return proc

    def _remove(self, count: int, active: list[_Process]) -> ScaleResult:
        idle = sorted((p for p in active if p.condition == "running" and p.state in IDLE_STATES),
                      key=lambda p: p.since)
        removed = []
        for proc in idle[:count]:
            self._terminate(proc)
            removed.append(proc.id)
        note = "" if len(removed) == count else f"{count - len(removed)} busy or booting worker(s) kept"
        return ScaleResult(removed=tuple(removed), note=note)

    def _terminate(self, proc: _Process) -> None:
        """SIGTERM, once: a worker takes a second one as "exit now", cutting its drain short."""
        if proc.terminated:
            return
        self._signal(proc, signal.SIGTERM)
        proc.terminated = True

    @staticmethod
    def _signal(proc: _Process, signum: int) -> None:
        if proc.handle.poll() is None:
            try:
                proc.handle.send_signal(signum)
            except ProcessLookupError:
                pass

    # --- status lines ------------------------------------------------------------------------
    def _read(self, proc: _Process) -> None:
        stream = proc.handle.stdout
        if stream is None:
            return
        try:
            for raw in stream:
                self._on_line(proc, raw.decode(errors="replace") if isinstance(raw, bytes) else raw)
        except (OSError, ValueError):
            pass  # the pipe went away with the process
        finally:
            stream.close()
            self.changed.set()  # the process is exiting

    def _on_line(self, proc: _Process, line: str) -> None:
        status = parse_status_line(line)
        if status is None:
            return  # not a status line (a stray print); the worker logs to stderr
        with self._lock:
            now = self._clock()
            if status.images_per_s is not None:
                proc.images_per_s = status.images_per_s
            if status.state == proc.state:
                return  # the same state again, with a new rate
            if proc.state == BUSY or status.state == BUSY:
                self._last_busy = now
            proc.state, proc.since = status.state, now
            if proc.ready_at is None and proc.state != LOADING:
                proc.ready_at = now
                self.first_ready_at = self.first_ready_at or now
                self._failures = 0
        self.changed.set()

    def _reap(self) -> None:
        now = self._clock()
        for proc in list(self._procs.values()):
            code = proc.handle.poll()
            if code is None:
                continue
            del self._procs[proc.id]
            self.exited.append((proc.id, code, now - proc.started))
            if proc.terminated:
                log.debug("%s stopped (exit %d)", proc.id, code)
                continue
            self._failures += 1
            backoff = RESTART_BACKOFF.ceiling(self._failures)  # one scaler: no herd to spread, no jitter
            self._retry_after = now + backoff
            when = "while starting" if proc.ready_at is None else "on its own"
            log.warning("worker %s exited %s with code %s; next start in %.0f s", proc.id, when, code, backoff)

    # --- shutdown ----------------------------------------------------------------------------
    def close(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stops every worker this fleet started: SIGTERM (they drain; one already draining is not signalled
        again), then SIGKILL after ``grace``."""
        with self._lock:
            procs = list(self._procs.values())
            for proc in procs:
                self._terminate(proc)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.handle.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %s did not stop within %.0f s: killing it", proc.id, grace)
                proc.handle.kill()
                proc.handle.wait()
        for proc in procs:
            if proc.reader is not None:
                proc.reader.join(timeout=2)
        with self._lock:
            self._reap()
