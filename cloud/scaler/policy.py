"""The scaling decision: a pure function from what was observed to a desired worker count and a reason.

No clock, no I/O, no fleet: the loop observes, :func:`decide` decides, a fleet acts. The same
function drives the local fleet, EC2, an Auto Scaling group and the simulation in
``bench/scaling_sim.py``.

How it decides (KEDA's SQS scaler, with the lessons of queue scalers that kill busy workers):

* **Work** is every message that still needs a worker: visible + in flight + delayed. In-flight
  messages count, so a queue that looks empty while its last batch runs never scales in the
  workers that hold that batch.
* **Scale out** to as many workers as drain the work within ``target_drain_seconds``:
  ``ceil(work / capacity)``, where one worker's capacity is ``rate * max(target_drain_seconds,
  boot_seconds)``. ``rate`` is the workers' own measured images per second (``Observation.rate``:
  the fleet's median report), or ``default_rate`` before any worker has reported. A fast fleet thus
  launches no worker that could not help: one worker that drains the backlog within the target is
  enough, and a worker is never given less than its own boot time's worth of work (one whose boot
  outlasts the drain would arrive after the backlog is gone). Booting workers count as capacity, so
  backlog that booting workers will absorb launches nothing more; ``max_workers`` bounds the fleet,
  booting included.
* **Activation** (KEDA's ``activationQueueLength``): an empty fleet wakes when ``visible + delayed``
  reaches ``activation_backlog``. In-flight messages always keep or bring one worker. With the
  default of 1 the fleet is never at zero while a message is visible or in flight.
* **No scale-in while messages wait.** Once a worker has booted, the seconds it spends on the
  backlog are the same whichever worker does them; removing it saves nothing and slows the job.
  Scale-in only removes workers that are idle *and* have nothing left to pick up.
* **Never below the busy workers.** A busy worker holds in-flight messages; it is never the one
  removed.
* **Linger.** When the queue has just emptied, one worker stays for ``scale_in_delay`` seconds,
  so a trickle of work does not pay a boot per message; any other idle worker goes at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALE_OUT = "scale-out"
SCALE_IN = "scale-in"
HOLD = "hold"


@dataclass(frozen=True)
class Settings:
    min_workers: int = 0
    max_workers: int = 19  # the original's cap
    # Seconds a backlog may take to drain: the fleet grows until its workers, at their measured rate,
    # would finish the work within this (shared/config.py's target_drain_seconds; per-fleet values in
    # defaults.py).
    target_drain_seconds: float = 60.0
    # Seconds from launch to a polling worker. A worker gets at least this many seconds of work.
    boot_seconds: float = 0.0
    # Images per second of one worker until a worker has measured its own (config default_worker_rate).
    default_rate: float = 40.0
    activation_backlog: int = 1
    scale_in_delay: float = 1.0  # seconds the last worker lingers after the queue empties

    def __post_init__(self) -> None:
        if self.min_workers < 0 or self.max_workers < self.min_workers:
            raise ValueError(f"need 0 <= min_workers ({self.min_workers}) <= max_workers ({self.max_workers})")
        if not (0 < self.target_drain_seconds < math.inf and 0 < self.default_rate < math.inf):
            raise ValueError("target_drain_seconds and default_rate must be positive")
        if self.boot_seconds < 0:
            raise ValueError("boot_seconds must not be negative")
        if self.activation_backlog < 0 or self.scale_in_delay < 0:
            raise ValueError("activation_backlog and scale_in_delay must not be negative")

    def per_worker(self, rate: float) -> float:
        """Images one worker at ``rate`` images/s is given: what it drains within the target, and never
        less than its boot time's worth."""
        return rate * max(self.target_drain_seconds, self.boot_seconds)


@dataclass(frozen=True)
class Observation:
    visible: int = 0  # messages waiting to be received
    in_flight: int = 0  # received, not yet deleted: being worked on
    delayed: int = 0  # sent with a delay, not yet visible
    running: int = 0  # workers up and polling (busy or idle)
    booting: int = 0  # launched, not ready yet
    idle: int = 0  # running workers known to hold no work (<= running)
    empty_for: float = 0.0  # seconds the queue has had no work at all (0 while it has some)
    # Images per second of one worker, as the workers measured it (the fleet's median); None until one
    # has reported, then Settings.default_rate stands in.
    rate: float | None = None

    @property
    def work(self) -> int:
        return self.visible + self.in_flight + self.delayed

    @property
    def active(self) -> int:
        """Workers that are, or soon will be, capacity."""
        return self.running + self.booting

    @property
    def busy(self) -> int:
        # Each busy worker holds at least one in-flight message, so in_flight bounds the count
        # even when a fleet reports idleness late (or not at all).
        return min(max(self.running - self.idle, 0), self.in_flight)


@dataclass(frozen=True)
class Decision:
    desired: int  # workers wanted, booting included
    reason: str  # one readable line
    action: str  # scale-out | scale-in | hold


def decide(obs: Observation, settings: Settings) -> Decision:
    """The desired number of workers (booting included) for what was observed."""
    s = settings
    active = obs.active
    work = obs.work
    waiting = obs.visible + obs.delayed

    if active == 0 and obs.in_flight == 0 and waiting < max(s.activation_backlog, 1):
        wanted, why = 0, "no work" if work == 0 else f"{waiting} waiting, below activation {s.activation_backlog}"
    elif work > 0:
        measured = obs.rate is not None and 0 < obs.rate < math.inf  # a bogus report is no measurement
        rate = obs.rate if measured and obs.rate else s.default_rate
        wanted = max(1, math.ceil(work / s.per_worker(rate)))
        why = (f"{work} messages, {rate:.3g} images/s per worker ({'measured' if measured else 'default'}): "
               f"{wanted} worker(s) drain them in {work / (wanted * rate):.3g} s (target {s.target_drain_seconds:g} s)")
        if obs.visible > 0 and wanted < active:
            wanted, why = active, f"{obs.visible} waiting: no scale-in while messages wait"
    else:
        wanted, why = 0, "queue empty"
        if active > 0 and obs.empty_for < s.scale_in_delay:
            wanted, why = 1, f"queue empty for {obs.empty_for:.1f} s < {s.scale_in_delay:g} s: one worker lingers"

    if obs.busy > wanted:
        wanted, why = obs.busy, f"{obs.busy} busy workers are never removed"
    if wanted < s.min_workers:
        wanted, why = s.min_workers, f"{why}; min_workers {s.min_workers}"
    if wanted > s.max_workers:
        wanted, why = s.max_workers, f"{why}; capped at max_workers {s.max_workers}"

    if wanted > active:
        action = SCALE_OUT
    elif wanted < active:
        action = SCALE_IN
    else:
        action = HOLD
    return Decision(desired=wanted, reason=why, action=action)
