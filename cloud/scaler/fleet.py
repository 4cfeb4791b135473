"""The one protocol every fleet speaks: observe what runs, scale to a count. Nothing else.

A fleet is a small adapter (local processes, EC2 instances, an Auto Scaling group). It reports
workers in four conditions and removes only idle ones:

* **booting**: launched, not yet able to take work (process starting, instance booting, model loading);
* **running**: up and polling the queue, busy or idle (``idle_ids`` names the idle ones);
* **draining**: told to stop and finishing what it holds; not capacity any more.

Each worker also carries the rate it measured (``images_per_s``: images per second of busy wall time,
see :mod:`cloud.worker.status`), when it has reported one; ``FleetState.rate`` is the fleet's median,
what the policy plans with.

``scale_to(desired)`` launches ``desired - (running + booting)`` workers when that is positive,
and otherwise stops at most that many *idle* workers; it never stops a busy or booting worker,
so asking for fewer than the busy count simply leaves them to finish.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass
from typing import Protocol

# Worker states, as the worker reports them (status lines locally, heartbeat objects on EC2).
LOADING, READY, BUSY, IDLE, DRAINING, STOPPED = "loading", "ready", "busy", "idle", "draining", "stopped"
IDLE_STATES = (READY, IDLE)


@dataclass(frozen=True)
class Worker:
    id: str
    condition: str  # booting | running | draining
    state: str  # the worker's own last report (loading, ready, busy, idle, draining), or the instance state
    since: float  # Unix time of that report
    images_per_s: float | None = None  # its measured rate; None until it has reported one


@dataclass(frozen=True)
class FleetState:
    workers: tuple[Worker, ...] = ()
    # Unix time a worker was last seen busy (now, while one is); None when no worker has worked yet.
    last_busy: float | None = None

    def _count(self, condition: str) -> int:
        return sum(1 for w in self.workers if w.condition == condition)

    @property
    def running(self) -> int:
        return self._count("running")

    @property
    def booting(self) -> int:
        return self._count("booting")

    @property
    def draining(self) -> int:
        return self._count("draining")

    @property
    def rate(self) -> float | None:
        """Images per second of one worker: the median of the workers' measured rates (None: none has
        reported one). The median, so one worker slowed by a cold cache or a noisy neighbour does not
        set the whole fleet's pace."""
        rates = [w.images_per_s for w in self.workers if w.images_per_s is not None]
        return statistics.median(rates) if rates else None

    @property
    def idle_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.workers if w.condition == "running" and w.state in IDLE_STATES)


@dataclass(frozen=True)
class ScaleResult:
    launched: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    note: str = ""  # why fewer than asked were launched or removed, when that happened


class Fleet(Protocol):
    kind: str  # local | ec2 | asg
    # Set by the fleet when a worker changes state, so the scaler can react before its next tick.
    changed: threading.Event

    def observe(self) -> FleetState: ...

    def scale_to(self, desired: int, reason: str) -> ScaleResult: ...

    def close(self) -> None:
        """Releases what this object holds. The local fleet stops its processes; cloud fleets leave
        instances to the next scaler (or to the workers' own idle timeout)."""

