"""The scaler loop: every tick, observe the queue and the fleet, decide, act, report.

:class:`Scaler` is embeddable: ``start()`` runs the loop in a background thread and ``stop()``
ends it from any thread; each tick's :class:`Tick` goes to an ``on_tick`` callback (called on the
scaler's thread: a GUI hands it over to its own thread) and to ``recent``. ``imgrec scaler`` runs the
same loop in the foreground (``cloud/scaler/commands.py``). No torch, no Qt.

Between ticks the loop also wakes when the fleet reports a worker changing state, so an idle
fleet is scaled in as soon as the queue empties rather than a full tick later.

The workers' speed: each tick passes the fleet's median measured rate (``FleetState.rate``) to the
policy. The loop remembers the last one it saw, so a fleet that went back to zero plans its next
scale-out with the speed its workers last had; only before any worker has ever reported does the
policy fall back to ``default_worker_rate``.

Every ``prune_every`` seconds (first on the first tick that succeeds) the loop also deletes the reply queues of
clients that died without closing (``shared/reply_queues.py``); a failed prune is logged, never a
failed tick.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cloud.scaler import defaults
from cloud.scaler.fleet import Fleet, FleetState
from cloud.scaler.policy import HOLD, Observation, Settings, decide
from shared import reply_queues
from shared.config import Config
from shared.sqs import SQSService

log = logging.getLogger("imgrec.scaler")

ERROR = "error"
MIN_GAP_SECONDS = 0.05  # fleet events never make the loop spin faster than this
RECENT_TICKS = 600


@dataclass(frozen=True)
class Tick:
    """One tick: what was observed, what was decided, what the fleet did. One JSON object in the log."""

    ts: float  # Unix seconds
    visible: int
    in_flight: int
    delayed: int
    running: int
    booting: int
    draining: int
    idle: int
    desired: int
    action: str  # scale-out | scale-in | hold | error
    reason: str
    launched: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    note: str = ""
    rate: float | None = None  # images/s per worker the decision planned with, as measured; None: the default

    def to_json(self) -> str:
        data = asdict(self)
        data["launched"], data["removed"] = list(self.launched), list(self.removed)
        return json.dumps(data, separators=(",", ":"))

    def line(self) -> str:
        """The readable log line."""
        active = self.running + self.booting
        head = f"{self.action} {active}->{self.desired}" if self.action != ERROR else ERROR
        text = (f"{head}: {self.reason} | queue {self.visible} visible, {self.in_flight} in flight"
                f" | workers {self.running} running ({self.idle} idle), {self.booting} booting, "
                f"{self.draining} draining")
        if self.launched:
            text += f" | launched {', '.join(self.launched)}"
        if self.removed:
            text += f" | stopping {', '.join(self.removed)}"
        if self.note:
            text += f" | {self.note}"
        return text

    def _shape(self) -> tuple:
        return (self.visible, self.in_flight, self.delayed, self.running, self.booting, self.draining,
                self.idle, self.desired, self.action)


class Scaler:
    """The loop, for a daemon, a desktop app or the embedded cloud.

    >>> scaler = Scaler(cfg, LocalFleet(cfg), on_tick=print).start()
    >>> ...
    >>> scaler.stop()   # ends the loop; with close_fleet (default) the local workers stop too
    """

    def __init__(
        self,
        cfg: Config,
        fleet: Fleet,
        *,
        settings: Settings | None = None,
        tick: float | None = None,
        sqs: SQSService | None = None,
        on_tick: Callable[[Tick], None] | None = None,
        log_json: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        prune_every: float | None = defaults.REPLY_PRUNE_SECONDS,
    ):
        self.cfg = cfg
        self.fleet = fleet
        self.settings = settings or defaults.settings_for(cfg, fleet.kind)
        self.tick_seconds = tick or defaults.tick_for(cfg, fleet.kind)
        self.sqs = sqs or SQSService(cfg)
        self.on_tick = on_tick
        self.log_json = Path(log_json) if log_json else None
        self.recent: collections.deque[Tick] = collections.deque(maxlen=RECENT_TICKS)
        self._clock = clock
        self._last_work = clock()
        self._last_shape: tuple | None = None
        self._queue_url: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._json_file = None
        self._next_wait = self.tick_seconds
        self._rate: float | None = None  # the last measured fleet rate (images/s per worker)
        self.prune_every = prune_every  # None: never prune reply queues
        self._next_prune = clock()

    # --- one tick ----------------------------------------------------------------------------
    def tick(self) -> Tick:
        """Observes, decides, acts once; never raises for an AWS or fleet error (it becomes the tick)."""
        now = self._clock()
        try:
            record = self._tick(now)
        except Exception as exc:  # noqa: BLE001 - a failed tick is reported; the loop goes on
            log.debug("tick failed", exc_info=True)
            record = Tick(ts=now, visible=0, in_flight=0, delayed=0, running=0, booting=0, draining=0, idle=0,
                          desired=0, action=ERROR, reason=f"{type(exc).__name__}: {exc}")
            self._next_wait = self.tick_seconds
        else:  # not after a failed tick: the endpoint may be down, and each call would wait out its timeouts
            self._prune_reply_queues(now)
        self._report(record)
        return record

    def _prune_reply_queues(self, now: float) -> None:
        """Deletes dead clients' reply queues when it is time to; a failure waits for the next turn."""
        if self.prune_every is None or now < self._next_prune:
            return
        self._next_prune = now + self.prune_every
        try:
            reply_queues.prune_for(self.cfg, self.sqs, now)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping: the loop goes on
            log.warning("could not prune reply queues (next try in %.0f s): %s", self.prune_every, exc)

    def _tick(self, now: float) -> Tick:
        if self._queue_url is None:
            self._queue_url = self.sqs.url(self.cfg.request_queue)
        depth = self.sqs.depth(self._queue_url)
        state: FleetState = self.fleet.observe()
        work = depth.visible + depth.in_flight + depth.delayed
        if work:
            self._last_work = now
        last = max(self._last_work, state.last_busy or 0.0)
        self._rate = state.rate or self._rate
        obs = Observation(
            visible=depth.visible, in_flight=depth.in_flight, delayed=depth.delayed,
            running=state.running, booting=state.booting, idle=len(state.idle_ids),
            empty_for=0.0 if work else max(0.0, now - last), rate=self._rate,
        )
        decision = decide(obs, self.settings)
        result = self.fleet.scale_to(decision.desired) if decision.action != HOLD else None
        # A lingering worker: look again when its delay runs out, not a whole tick later.
        self._next_wait = self.tick_seconds
        if not work and obs.active and obs.empty_for < self.settings.scale_in_delay:
            self._next_wait = min(self.tick_seconds, self.settings.scale_in_delay - obs.empty_for + 0.01)
        return Tick(
            ts=now, visible=obs.visible, in_flight=obs.in_flight, delayed=obs.delayed,
            running=obs.running, booting=obs.booting, draining=state.draining, idle=obs.idle,
            desired=decision.desired, action=decision.action, reason=decision.reason,
            launched=result.launched if result else (), removed=result.removed if result else (),
            note=result.note if result else "", rate=None if self._rate is None else round(self._rate, 2),
        )

    def _report(self, record: Tick) -> None:
        previous = self.recent[-1] if self.recent else None
        self.recent.append(record)
        # A scale-out or scale-in the fleet could not carry out (launches held, no capacity, a failing call)
        # repeats every tick with the same shape: the first one is logged, the fleet logs its reason once.
        acted = bool(record.launched or record.removed)
        changed = acted or record._shape() != self._last_shape
        self._last_shape = record._shape()
        if record.action == ERROR:  # once per outage, not once per tick
            same = previous is not None and previous.action == ERROR and previous.reason == record.reason
            log.log(logging.DEBUG if same else logging.WARNING, "%s", record.line())
        else:
            log.log(logging.INFO if changed else logging.DEBUG, "%s", record.line())
        if self.log_json is not None:
            if self._json_file is None:
                self.log_json.parent.mkdir(parents=True, exist_ok=True)
                self._json_file = self.log_json.open("a", encoding="utf-8")
            self._json_file.write(record.to_json() + "\n")
            self._json_file.flush()
        if self.on_tick is not None:
            try:
                self.on_tick(record)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the scaler
                log.exception("on_tick callback failed")

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Ticks until :meth:`stop` (from another thread or a signal handler)."""
        changed = self.fleet.changed
        while True:
            started = time.monotonic()
            changed.clear()  # before the tick: a change (or a stop) during it brings the next one forward
            if self._stopping.is_set():
                break
            self.tick()
            changed.wait(self._next_wait)
            if not self._stopping.is_set():
                time.sleep(max(0.0, MIN_GAP_SECONDS - (time.monotonic() - started)))

    def start(self) -> Scaler:
        if self._thread is not None:
            raise RuntimeError("this scaler is already running")
        self._thread = threading.Thread(target=self.run, name="imgrec-scaler", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Asks the loop to end after the current tick; safe from a signal handler."""
        self._stopping.set()
        self.fleet.changed.set()

    def stop(self, timeout: float = 30.0, close_fleet: bool = True) -> None:
        """Ends the loop (waiting for the tick in progress) and, by default, closes the fleet."""
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if close_fleet:
            self.fleet.close()
        if self._json_file is not None:
            self._json_file.close()
            self._json_file = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Scaler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
