"""The one protocol every fleet speaks: observe what runs, scale to a count. Nothing else.

A fleet is a small adapter (local processes, EC2 instances, an Auto Scaling group). It reports
workers in four conditions and removes only idle ones:

* **booting**: launched, not yet able to take work (process starting, instance booting, model loading);
* **running**: up and polling the queue, busy or idle (``idle_ids`` names the idle ones);
* **draining**: told to stop and finishing what it holds; not capacity any more.

Each worker also carries the rate it measured (``images_per_s``: images per second of busy wall time,
see :mod:`shared.worker_status`), when it has reported one; ``FleetState.rate`` is the fleet's median,
what the policy plans with.

``scale_to(desired)`` launches ``desired - (running + booting)`` workers when that is positive,
and otherwise stops at most that many *idle* workers; it never stops a busy or booting worker,
so asking for fewer than the busy count simply leaves them to finish.

Cloud fleets make their AWS calls that act through :class:`Calls`: an error is logged once, not on
every tick, and raised as :class:`CallFailed` for the fleet to survive and try again later.
"""

from __future__ import annotations

import logging
import statistics
import threading
from dataclasses import dataclass
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from shared.worker_status import IDLE_STATES


@dataclass(frozen=True)
class FleetWorker:
    """One worker as a fleet sees it."""

    id: str
    condition: str  # booting | running | draining
    state: str  # the worker's own last report (shared.worker_status), or the instance's state
    since: float  # Unix time of that report
    images_per_s: float | None = None  # its measured rate; None until it has reported one


@dataclass(frozen=True)
class FleetState:
    workers: tuple[FleetWorker, ...] = ()
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

    def scale_to(self, desired: int) -> ScaleResult: ...

    def close(self) -> None:
        """Releases what this object holds. The local fleet stops its processes; cloud fleets leave
        instances to the next scaler (or to the workers' own idle timeout)."""



class CallFailed(Exception):
    def __init__(self, operation: str, code: str, message: str):
        super().__init__(f"{operation}: {code}: {message}")
        self.operation, self.code, self.message = operation, code, message


class Calls:
    """Calls one boto3 client. An error is logged once per operation and error code, until that operation
    next succeeds, and raised as CallFailed; the caller goes on and tries again on a later tick."""

    def __init__(self, client, service: str, logger: logging.Logger):
        self.client, self.service, self.log = client, service, logger
        self._failing: dict[str, str] = {}  # operation -> the error code last logged for it

    def __call__(self, operation: str, **params) -> dict:
        try:
            answer = getattr(self.client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", str(exc))
        except BotoCoreError as exc:  # the endpoint did not answer, after botocore's own retries
            code, message = type(exc).__name__, str(exc)
        else:
            self._failing.pop(operation, None)
            return answer
        if self._failing.get(operation) != code:
            self._failing[operation] = code
            self.log.warning("%s %s failed (%s): %s; the scaler goes on and tries again on a later tick",
                             self.service, operation, code, message)
        else:
            self.log.debug("%s %s failed again (%s): %s", self.service, operation, code, message)
        raise CallFailed(operation, code, message)
