"""Builds the window's models and controllers and wires what is left: filter, double-click, close."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from desktop.controllers.connection_controller import ConnectionController
from desktop.controllers.export_controller import ExportController
from desktop.controllers.history_controller import HistoryController
from desktop.controllers.jobs_controller import JobsController
from desktop.controllers.settings_controller import SettingsController
from desktop.history import HistoryStore
from desktop.models.jobs_model import JobsModel
from desktop.models.results_filter import ResultsFilterProxy
from desktop.models.results_model import PATH_ROLE, ResultsModel
from desktop.models.skipped_model import SkippedModel
from desktop.rows import TableRow, row_from_skipped
from desktop.settings import DesktopSettings
from desktop.thumbnails import ThumbnailCache
from desktop.views.main_view import MainView
from shared.config import Config

log = logging.getLogger(__name__)


class MainController(QObject):
    def __init__(self, view: MainView, settings: DesktopSettings, base_cfg: Config, history_path: Path,
                 settings_path: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.history = HistoryStore(history_path)  # opened on first use, in a task
        self.thumbnails = ThumbnailCache(self)
        self.results = ResultsModel(self.thumbnails, self)
        self.proxy = ResultsFilterProxy(self)
        self.proxy.setSourceModel(self.results)
        self.skipped = SkippedModel(self)
        self.jobs_model = JobsModel(self)
        view.results.set_model(self.proxy)
        view.skipped.set_model(self.skipped)

        self.connection = ConnectionController(view, settings, base_cfg, self)
        self.jobs = JobsController(view, self.connection, self.history, self.results, self.proxy, self.skipped,
                                   self)
        self.history_controller = HistoryController(view, self.history, self.connection, self.jobs,
                                                    self.jobs_model, self)
        self.export = ExportController(view, self.rows_for_export, self)
        self.settings = SettingsController(view, self.connection, base_cfg, settings_path,
                                           busy=lambda: self.jobs.busy, parent=self)

        view.results.filter_edit.textChanged.connect(self._filter_changed)
        view.results.status_combo.currentIndexChanged.connect(self._filter_changed)
        view.results.table.doubleClicked.connect(self.open_image)
        view.closing.connect(self.shutdown)
        self._closed = False

    def start(self) -> None:
        self.connection.connect_now()
        self.history_controller.start()

    def rows_for_export(self) -> list[TableRow]:
        """What `imgrec classify` would write: every image, failed ones included, and skipped files."""
        skipped = [row_from_skipped(s) for s in self.skipped.rows() if not s.looks_like_image]
        return self.results.rows() + skipped

    @Slot()
    def _filter_changed(self) -> None:
        self.proxy.set_text(self.view.results.filter_edit.text())
        self.proxy.set_status(self.view.results.status_filter())
        self.view.results.set_count(self.proxy.rowCount(), self.results.rowCount())

    @Slot(QModelIndex)
    def open_image(self, index: QModelIndex) -> bool:
        path = index.data(PATH_ROLE)
        if not path or not Path(path).exists():
            self.view.statusBar().showMessage("The image is not on this computer any more.", 5000)
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    @Slot()
    def shutdown(self) -> None:
        """Stops timers, cancels uploads, closes the session (its local workers drain), waits briefly."""
        if self._closed:
            return
        self._closed = True
        self.jobs.shutdown()
        self.connection.shutdown()
        self.history_controller.shutdown()
