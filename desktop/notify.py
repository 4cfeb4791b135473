"""A word when a long job finishes while the window is in the background: a system-tray message where
the desktop has a tray, otherwise QApplication.alert (the taskbar entry flashes or bounces)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon, QWidget

LONG_JOB_SECONDS = 30.0  # shorter jobs finish while the user is still looking
MESSAGE_MS = 10_000
TRAY, ALERT = "tray", "alert"


class Notifier(QObject):
    notified = Signal(str, str)  # how (TRAY or ALERT), the message

    def __init__(self, window: QWidget, long_job_seconds: float = LONG_JOB_SECONDS,
                 in_background: Callable[[], bool] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.window = window
        self.long_job_seconds = long_job_seconds
        self.in_background = in_background or self._in_background
        self._tray: QSystemTrayIcon | None = None

    def _in_background(self) -> bool:
        return not self.window.isActiveWindow() or self.window.isMinimized()

    def job_done(self, seconds: float, text: str) -> str | None:
        """Tells the user ``text`` when the job took long and they are elsewhere; returns how, or None."""
        if seconds < self.long_job_seconds or not self.in_background():
            return None
        return self.notify(text)

    def notify(self, text: str) -> str:
        title = self.window.windowTitle() or "imgrec"
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            if self._tray is None:
                icon = self.window.windowIcon()
                if icon.isNull():
                    icon = self.window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
                self._tray = QSystemTrayIcon(icon, self)
                self._tray.activated.connect(lambda _reason: self._raise())
                self._tray.messageClicked.connect(self._raise)
            self._tray.show()
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, MESSAGE_MS)
            how = TRAY
        else:
            QApplication.alert(self.window, 0)  # until the window is activated
            how = ALERT
        self.notified.emit(how, text)
        return how

    def _raise(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
