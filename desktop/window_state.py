"""The window as the user left it: its size and place, the splitters, the tables' column widths.

Kept with QSettings in an INI file beside the desktop's settings (``window.ini``), so that a test that
gives the app a settings path of its own (a temporary folder) also gets a window state of its own.
With no path (the scripted demo) nothing is remembered. Splitters and tables are found by their
object names, so a view that gains one only has to name it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter, QTableView

FILE_NAME = "window.ini"
VERSION = 1  # bump when a saved layout would not fit the window any more: it is then ignored


def state_path(settings_path: Path | None) -> Path | None:
    return settings_path.with_name(FILE_NAME) if settings_path is not None else None


class WindowState:
    def __init__(self, path: Path | None):
        self.path = path
        self._settings = QSettings(str(path), QSettings.Format.IniFormat) if path is not None else None

    def restore(self, window: QMainWindow) -> bool:
        """Puts back what was saved; False when there is nothing (or nothing usable) to put back."""
        settings = self._settings
        if settings is None or settings.value("version", 0, int) != VERSION:
            return False
        geometry = settings.value("window/geometry")
        if geometry is not None:
            window.restoreGeometry(geometry)
        for splitter in _named(window, QSplitter):
            state = settings.value(f"splitters/{splitter.objectName()}")
            if state is not None:
                splitter.restoreState(state)
        for table in _named(window, QTableView):
            state = settings.value(f"columns/{table.objectName()}")
            if state is not None and table.model() is not None:
                table.horizontalHeader().restoreState(state)
        return True

    def save(self, window: QMainWindow) -> None:
        settings = self._settings
        if settings is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        settings.setValue("version", VERSION)
        settings.setValue("window/geometry", window.saveGeometry())
        for splitter in _named(window, QSplitter):
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        for table in _named(window, QTableView):
            if table.model() is not None:
                settings.setValue(f"columns/{table.objectName()}", table.horizontalHeader().saveState())
        settings.sync()


def _named(window: QMainWindow, kind):
    return [widget for widget in window.findChildren(kind) if widget.objectName()]
