"""Connects to the target, polls the queue and the fleet, and owns the error banner.

Every AWS call runs in a Task: the connect, each poll (a QTimer starts one at a time), the close.
A failed connect or poll shows the banner with Retry; the window never waits on the network.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.connection import ConnectionReport
from desktop.session import CloudSession
from desktop.settings import EMBEDDED, DesktopSettings
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.timeline import Sample, Timeline
from desktop.views.main_view import MainView
from desktop.views.scaler_view import LOG_LINES
from shared.config import Config

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 1000
CLOSE_WAIT_MS = 30_000

DISCONNECTED, CONNECTING, CONNECTED, FAILED = "disconnected", "connecting", "connected", "failed"


def _open(task: Task, session: CloudSession) -> ConnectionReport:
    return session.open()


def _observe(task: Task, session: CloudSession) -> Sample:
    return session.observe()


def _close(task: Task, session: CloudSession) -> None:
    session.close()


class ScalerBridge(QObject):
    """Carries the scaler thread's decisions to the GUI thread (a queued signal per decision)."""

    decision = Signal(object)


class ConnectionController(QObject):
    connected = Signal(object)  # Config
    disconnected = Signal()
    failed = Signal(str)  # why a connect failed
    sampled = Signal(object)  # Sample

    def __init__(self, view: MainView, settings: DesktopSettings, base_cfg: Config,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.settings = settings
        self.base_cfg = base_cfg
        self.state = DISCONNECTED
        self.session: CloudSession | None = None
        self.timeline = Timeline()
        self.runner = TaskRunner(parent=self)
        self.bridge = ScalerBridge(self)
        self.bridge.decision.connect(self._on_decision)
        self._poll_task: Task | None = None
        self._poll_failed = False
        self._last_key: tuple | None = None
        self.decisions: deque[Any] = deque(maxlen=LOG_LINES)  # the ticks shown in the log
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_INTERVAL_MS)
        self.poll_timer.timeout.connect(self._poll)

        view.banner.retry_button.clicked.connect(self.retry)
        self._show_scaler_mode()

    # --- public ----------------------------------------------------------------------------------
    @property
    def cfg(self) -> Config | None:
        return self.session.cfg if self.session is not None and self.state == CONNECTED else None

    @property
    def target(self) -> str:
        return self.session.target if self.session is not None else self.settings.describe_target()

    def connect_now(self) -> None:
        if self.state == CONNECTING:
            return
        self.state = CONNECTING
        self.session = CloudSession(self.settings, self.base_cfg, on_decision=self.bridge.decision.emit)
        what = "Starting the embedded local cloud…" if self.settings.target == EMBEDDED else \
            f"Connecting to {self.settings.describe_target()}…"
        self.view.status.set_target(what)
        self.view.statusBar().showMessage(what)
        self.view.banner.set_retrying(True)
        task = Task(_open, self.session, name="connect")
        task.signals.result.connect(self._on_connected)
        task.signals.errored.connect(self._on_connect_failed)
        self.runner.start(task)

    @Slot()
    def retry(self) -> None:
        if self.state == CONNECTED:
            self.view.banner.set_retrying(True)
            self._poll()
        elif self.state in (DISCONNECTED, FAILED):
            old = self.session
            self.session = None
            if old is not None:  # a half-opened embedded cloud is stopped before a new one starts
                self.runner.start(Task(_close, old, name="close"))
            self.connect_now()

    def apply_settings(self, settings: DesktopSettings) -> None:
        """New settings: the old session closes (in the background) and a new one opens."""
        self.settings = settings
        self._show_scaler_mode()
        self.poll_timer.stop()
        old, self.session = self.session, None
        self.state = DISCONNECTED
        self.disconnected.emit()
        if old is not None:
            close = Task(_close, old, name="close")
            close.signals.finished.connect(self.connect_now)
            self.runner.start(close)
        else:
            self.connect_now()

    def shutdown(self, wait_ms: int = CLOSE_WAIT_MS) -> None:
        """Stops polling and closes the session; waits (bounded) so worker processes are not orphaned."""
        self.poll_timer.stop()
        old, self.session = self.session, None
        self.state = DISCONNECTED
        if old is not None:
            self.runner.start(Task(_close, old, name="close"))
        self.runner.wait(wait_ms)

    # --- connect -------------------------------------------------------------------------------
    @Slot(object)
    def _on_connected(self, report: ConnectionReport) -> None:
        session = self.session
        if session is None or session.report is not report:
            return  # a connect that was overtaken by new settings
        self.state = CONNECTED
        self.view.banner.clear()
        self._poll_failed = False
        self.view.status.set_target(f"Connected to {session.target}")
        self.view.statusBar().showMessage(f"Connected to {session.target}", 5000)
        self._show_scaler_mode()
        self.poll_timer.start()
        self._poll()
        self.connected.emit(session.cfg)

    @Slot(object)
    def _on_connect_failed(self, error: TaskError) -> None:
        self.state = FAILED
        self.view.status.set_target("Not connected")
        self.view.statusBar().showMessage("Not connected")
        self.view.banner.show_message(f"Cannot connect: {error.message}")
        self.failed.emit(error.message)

    # --- poll ----------------------------------------------------------------------------------
    @Slot()
    def _poll(self) -> None:
        if self.state != CONNECTED or self.session is None:
            return
        if self._poll_task is not None and not self._poll_task.done:
            return  # one poll at a time: a slow endpoint is not flooded
        task = Task(_observe, self.session, name="poll")
        task.signals.result.connect(self._on_sample)
        task.signals.errored.connect(self._on_poll_failed)
        self._poll_task = task
        self.runner.start(task)

    @Slot(object)
    def _on_sample(self, sample: Sample) -> None:
        if self.state != CONNECTED:
            return
        if self._poll_failed:
            self._poll_failed = False
            self.view.banner.clear()
            self.view.status.set_target(f"Connected to {self.target}")
        self.view.banner.set_retrying(False)
        self.timeline.add(sample)
        self.view.chart.show_points(self.timeline.points(now=time.monotonic()))
        status = self.view.status
        status.set_value("visible", str(sample.visible))
        status.set_value("in_flight", str(sample.in_flight))
        status.set_value("running", "—" if sample.running is None else str(sample.running))
        status.set_value("booting", "—" if sample.booting is None else str(sample.booting))
        self.sampled.emit(sample)

    @Slot(object)
    def _on_poll_failed(self, error: TaskError) -> None:
        if self.state != CONNECTED:
            return
        self._poll_failed = True
        self.view.status.set_target(f"Lost connection to {self.target}")
        self.view.banner.show_message(f"Lost connection: {error.message}. Retrying every "
                                      f"{POLL_INTERVAL_MS // 1000} s.")

    # --- scaler --------------------------------------------------------------------------------
    def _show_scaler_mode(self) -> None:
        in_app = self.settings.scaler == "in_app"
        self.view.scaler.set_in_app(in_app)
        self.view.status.set_scaler("Autoscaler: in this app" if in_app else "Autoscaler: external (observing)")

    @Slot(object)
    def _on_decision(self, tick: Any) -> None:
        """One scaler tick: logged when it acts, or when the fleet or the wanted count changes."""
        key = (tick.action, tick.running, tick.booting, tick.draining, tick.desired)
        self.view.status.set_scaler(f"Autoscaler: in this app, {tick.desired} wanted")
        if key == self._last_key and tick.action == "hold":
            return
        self._last_key = key
        stamp = time.strftime("%H:%M:%S", time.localtime(tick.ts))
        self.view.scaler.append_lines([f"{stamp}  {tick.line()}"])
        self.decisions.append(tick)
