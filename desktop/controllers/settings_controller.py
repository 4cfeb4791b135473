"""The settings dialog and the scaler switch: test a connection off-thread, save, reconnect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop.connection import ConnectionReport, check_connection
from desktop.controllers.connection_controller import ConnectionController
from desktop.settings import EMBEDDED, EXTERNAL, IN_APP, DesktopSettings, save_settings
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView
from desktop.views.settings_view import SettingsView
from shared.config import Config, ConfigError


def test_connection(task: Task, settings: DesktopSettings, base_cfg: Config, current: Config | None) -> str:
    """A Task body: one sentence saying what was reached (raises with the reason otherwise)."""
    if settings.target == EMBEDDED:
        if current is None or not current.is_local:
            return "The embedded local cloud starts in this app when you press OK."
        report: ConnectionReport = check_connection(current)
        return f"The embedded local cloud answers at {current.endpoint_url}; buckets and queue are there."
    report = check_connection(settings.to_config(base_cfg))
    return f"Reached {report.target}: buckets and request queue found."


def store_settings(task: Task, path: Path, settings: DesktopSettings) -> None:
    save_settings(path, settings)


class SettingsController(QObject):
    applied = Signal(object)  # DesktopSettings

    def __init__(self, view: MainView, connection: ConnectionController, base_cfg: Config,
                 settings_path: Path | None, busy: Callable[[], bool] = lambda: False,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.busy = busy  # a job is running: reconnecting now would strand it
        self.view = view
        self.connection = connection
        self.base_cfg = base_cfg
        self.settings_path = settings_path
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.dialog: SettingsView | None = None
        view.settings_action.triggered.connect(self.open_dialog)
        view.banner.settings_button.clicked.connect(self.open_dialog)
        view.scaler.in_app_radio.clicked.connect(lambda: self._switch_scaler(IN_APP))
        view.scaler.external_radio.clicked.connect(lambda: self._switch_scaler(EXTERNAL))

    @property
    def settings(self) -> DesktopSettings:
        return self.connection.settings

    @Slot()
    def open_dialog(self) -> SettingsView:
        dialog = SettingsView(self.view)
        dialog.set_settings(self.settings)
        dialog.test_button.clicked.connect(lambda: self._test(dialog))
        dialog.buttons.accepted.connect(lambda: self._accept(dialog))
        dialog.buttons.rejected.connect(dialog.reject)
        dialog.finished.connect(lambda _result: dialog.deleteLater())
        self.dialog = dialog
        dialog.open()  # window-modal, without a nested event loop
        return dialog

    def _test(self, dialog: SettingsView) -> None:
        try:
            settings = dialog.settings().validate()
        except ConfigError as exc:
            dialog.set_test_result(str(exc), False)
            return
        dialog.set_test_result("Testing…", None)
        dialog.test_button.setEnabled(False)
        task = Task(test_connection, settings, self.base_cfg, self.connection.cfg, name="test connection")
        task.signals.result.connect(lambda text: self._tested(dialog, text, True))
        task.signals.errored.connect(lambda error: self._tested(dialog, error.message, False))
        self.runner.start(task)

    def _tested(self, dialog: SettingsView, text: str, ok: bool) -> None:
        try:
            dialog.set_test_result(text, ok)
            dialog.test_button.setEnabled(True)
        except RuntimeError:  # the dialog was closed meanwhile
            pass

    def _accept(self, dialog: SettingsView) -> None:
        try:
            settings = dialog.settings().validate()
            settings.to_config(self.base_cfg)
        except ConfigError as exc:
            dialog.set_error(str(exc))
            return
        if self.settings.needs_reconnect(settings) and self.busy():
            dialog.set_error("A job is running: change the target or the scaler when it is done.")
            return
        dialog.accept()
        if settings != self.settings:
            self.apply(settings)

    def apply(self, settings: DesktopSettings) -> None:
        if self.settings_path is not None:
            task = Task(store_settings, self.settings_path, settings, name="save settings")
            task.signals.errored.connect(self._save_failed)
            self.runner.start(task)
        if self.settings.needs_reconnect(settings):
            self.connection.apply_settings(settings)
        else:
            self.connection.settings = settings  # only how the next job uploads: no reconnect
        self.applied.emit(settings)

    def _switch_scaler(self, mode: str) -> None:
        if mode == self.settings.scaler:
            return
        if self.busy():
            self.view.scaler.set_in_app(self.settings.scaler == IN_APP)
            self.view.statusBar().showMessage("A job is running: switch the scaler when it is done.", 8000)
            return
        self.apply(replace(self.settings, scaler=mode))

    @Slot(object)
    def _save_failed(self, error: TaskError) -> None:
        self.view.statusBar().showMessage(f"Settings not saved: {error.message}", 10000)
