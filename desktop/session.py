"""The app's connection to one target: opened, observed and closed off the GUI thread. No Qt.

* Embedded target: an EmbeddedCloud (moto server, provisioning, local workers) started in this
  process; its endpoint becomes the session's Config.
* AWS target: the configured account or endpoint, checked (buckets, queue) before use.

With "Run the autoscaler in this app", cloud.scaler's loop runs in a background thread and each of
its decisions is handed to ``on_decision``; with an external scaler the session only observes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from cloud.scaler.fleets import make_fleet
from desktop.connection import ConnectionReport, check_connection
from desktop.settings import EMBEDDED, IN_APP, DesktopSettings
from desktop.timeline import Sample
from shared import aws
from shared.config import Config
from shared.sqs import SQSService
from shared.target import explain

log = logging.getLogger(__name__)


class SessionError(RuntimeError):
    """The session could not be opened or observed; the message is one sentence for the banner."""


class CloudSession:
    def __init__(self, settings: DesktopSettings, base_cfg: Config,
                 on_decision: Callable[[Any], None] | None = None):
        self.settings = settings
        self.base_cfg = base_cfg
        self.on_decision = on_decision or (lambda _decision: None)
        self.cfg: Config | None = None
        self.report: ConnectionReport | None = None
        self._cloud = None  # cloud.local.embedded.EmbeddedCloud, when this session started one
        self._scaler = None  # cloud.scaler.loop.Scaler, when it runs in this app
        self._fleet = None  # the fleet the app scales, or only observes (EC2, Auto Scaling group)
        self._last_tick = None
        self._sqs: SQSService | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def target(self) -> str:
        if self.cfg is not None and self.settings.target == EMBEDDED:
            return f"embedded local cloud at {self.cfg.endpoint_url}"
        return self.settings.describe_target()

    @property
    def scaler(self):
        """The in-app cloud.scaler Scaler, or None (external scaler)."""
        return self._scaler

    # --- open / close (pool threads) --------------------------------------------------------------
    def open(self) -> ConnectionReport:
        cfg = self.settings.to_config(self.base_cfg)
        if self.settings.target == EMBEDDED:
            cfg = self._start_embedded(cfg)
            self._check_open()
        try:
            report = check_connection(cfg)
        except Exception as exc:
            raise SessionError(explain(exc, cfg)) from None
        cfg = report.cfg  # on AWS: the buckets no setting names are named after the account
        with self._lock:
            self.cfg, self.report = cfg, report
            self._sqs = SQSService(cfg)
        if self.settings.scaler == IN_APP:
            self._start_scaler(cfg)
        elif not cfg.is_local and cfg.fleet in ("ec2", "asg"):
            self._fleet = make_fleet(cfg, launching=False)  # observed only: never asked to scale
        self._check_open()
        return report

    def _check_open(self) -> None:
        """close() ran while this was opening (the app closed): stop what was started."""
        if self._closed.is_set():
            self.close()
            raise SessionError("closed while connecting")

    def _start_embedded(self, cfg: Config) -> Config:
        from cloud.local.embedded import EmbeddedCloud  # the local cloud, in this process

        cloud = EmbeddedCloud(cfg, **self._embedded_options())
        try:
            cloud.__enter__()
        except Exception as exc:
            raise SessionError(f"the embedded local cloud did not start: {exc}") from None
        self._cloud = cloud  # its moto server and workers start in sessions of their own, niced (cloud.local.priority)
        return cloud.cfg

    def _embedded_options(self) -> dict[str, Any]:
        # In-app: this app's scaler owns the local fleet, so the embedded cloud starts no workers.
        # External: the embedded cloud scales its own workers (as `imgrec up` does); the app observes.
        return {"workers": 0} if self.settings.scaler == IN_APP else {"autoscale": True}

    def _start_scaler(self, cfg: Config) -> None:
        from cloud.scaler.loop import Scaler

        # A loopback endpoint always gets local worker processes, each in a session of its own and niced,
        # as in every mode (cloud.local.priority): they take no CPU share from the window.
        try:
            fleet = make_fleet(cfg, "local" if cfg.is_local else None)
        except Exception as exc:
            raise SessionError(f"the autoscaler did not start: {exc}") from None
        self._fleet = fleet
        try:
            self._scaler = Scaler(cfg, fleet, on_tick=self._on_tick).start()
        except Exception as exc:
            fleet.close()
            raise SessionError(f"the autoscaler did not start: {exc}") from None

    def _on_tick(self, tick: Any) -> None:
        """On the scaler's thread: remember the fleet's counts and hand the tick to the GUI."""
        self._last_tick = tick
        self.on_decision(tick)

    def close(self) -> None:
        """Stops the scaler and its local workers (they drain), then the embedded cloud. Idempotent."""
        self._closed.set()
        with self._lock:
            scaler, fleet, cloud = self._scaler, self._fleet, self._cloud
            self._scaler = self._fleet = self._cloud = None
            self.cfg = self._sqs = None
        if scaler is not None:
            try:
                scaler.stop()  # closes the fleet: local workers get SIGTERM and drain
            except Exception as exc:  # noqa: BLE001 - closing goes on
                log.warning("stopping the scaler: %s", exc)
        elif fleet is not None:
            try:
                fleet.close()  # an observed cloud fleet: releases the clients, leaves the instances alone
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the fleet: %s", exc)
        if cloud is not None:
            try:
                cloud.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping the embedded cloud: %s", exc)

    # --- observe (pool thread, once per poll) --------------------------------------------------------
    def observe(self) -> Sample:
        with self._lock:
            cfg, sqs, report = self.cfg, self._sqs, self.report
        if cfg is None or sqs is None or report is None:
            raise SessionError("not connected")
        try:
            if cfg.endpoint_url:
                aws.probe(cfg.endpoint_url)
            depth = sqs.depth(report.request_queue_url)
        except Exception as exc:
            raise SessionError(explain(exc, cfg)) from None
        running, booting = self._fleet_counts()
        return Sample(at=time.monotonic(), visible=depth.visible, in_flight=depth.in_flight,
                      running=running, booting=booting)

    def _fleet_counts(self) -> tuple[int | None, int | None]:
        """(running, booting): from the in-app scaler's last tick, the embedded cloud's own workers,
        or an observed EC2 / Auto Scaling fleet; (None, None) when this app cannot see the fleet."""
        tick, cloud, fleet = self._last_tick, self._cloud, self._fleet
        if self._scaler is not None:
            return (tick.running, tick.booting) if tick is not None else (0, 0)
        if cloud is not None:
            return cloud.worker_counts()
        if fleet is not None:
            state = fleet.observe()
            return state.running, state.booting
        return None, None
