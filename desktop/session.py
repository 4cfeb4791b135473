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

from desktop.connection import ConnectionReport, check_connection, describe_target, explain, probe
from desktop.settings import EMBEDDED, IN_APP, DesktopSettings
from desktop.timeline import Sample
from shared.config import Config
from shared.sqs import SQSService

log = logging.getLogger(__name__)

SCALER_STOP_SECONDS = 15.0


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
        self._cloud = None  # cloud.embedded.EmbeddedCloud, when this session started one
        self._scaler = None  # cloud.scaler Scaler, when it runs in this app
        self._scaler_thread: threading.Thread | None = None
        self._sqs: SQSService | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def target(self) -> str:
        if self.cfg is not None and self.settings.target == EMBEDDED:
            return f"embedded local cloud at {self.cfg.endpoint_url}"
        return self.settings.describe_target()

    @property
    def in_app_scaler(self) -> bool:
        return self._scaler is not None

    # --- open / close (pool threads) --------------------------------------------------------------
    def open(self) -> ConnectionReport:
        cfg = self.settings.to_config(self.base_cfg)
        if self.settings.target == EMBEDDED:
            cfg = self._start_embedded(cfg)
        try:
            report = check_connection(cfg)
        except Exception as exc:
            raise SessionError(explain(exc, cfg)) from None
        with self._lock:
            self.cfg, self.report = cfg, report
            self._sqs = SQSService(cfg)
        if self.settings.scaler == IN_APP:
            self._start_scaler(cfg)
        return report

    def _start_embedded(self, cfg: Config) -> Config:
        from cloud.embedded import EmbeddedCloud  # the local cloud, in this process

        cloud = EmbeddedCloud(cfg, **self._embedded_options())
        try:
            cloud.__enter__()
        except Exception as exc:
            raise SessionError(f"the embedded local cloud did not start: {exc}") from None
        self._cloud = cloud
        return cloud.cfg

    def _embedded_options(self) -> dict[str, Any]:
        # The in-app scaler owns the local fleet: the embedded cloud starts with no workers of its own.
        return {"workers": 0} if self.settings.scaler == IN_APP else {}

    def _start_scaler(self, cfg: Config) -> None:
        raise SessionError("the in-app autoscaler is not available in this build")

    def close(self) -> None:
        """Stops the scaler and the embedded cloud (their worker processes drain). Idempotent."""
        self._closed.set()
        scaler, thread, cloud = self._scaler, self._scaler_thread, self._cloud
        self._scaler = self._scaler_thread = self._cloud = None
        if scaler is not None:
            try:
                scaler.stop()
            except Exception as exc:  # noqa: BLE001 - closing goes on
                log.warning("stopping the scaler: %s", exc)
        if thread is not None:
            thread.join(SCALER_STOP_SECONDS)
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
                probe(cfg.endpoint_url)
            depth = sqs.depth(report.request_queue_url)
        except Exception as exc:
            raise SessionError(explain(exc, cfg)) from None
        running, booting = self._fleet_counts()
        return Sample(at=time.monotonic(), visible=depth.visible, in_flight=depth.in_flight,
                      running=running, booting=booting)

    def _fleet_counts(self) -> tuple[int | None, int | None]:
        return None, None

    def describe(self) -> str:
        return describe_target(self.cfg) if self.cfg else self.settings.describe_target()
