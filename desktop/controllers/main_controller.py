"""Builds the window's models and controllers and wires what is left: filter, double-click, the
notification when a long job ends in the background, the window's remembered layout, close."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from desktop.controllers.connection_controller import ConnectionController
from desktop.controllers.cost_controller import CostController
from desktop.controllers.export_controller import ExportController
from desktop.controllers.gallery_controller import GalleryController
from desktop.controllers.history_controller import HistoryController
from desktop.controllers.jobs_controller import JobsController
from desktop.controllers.organize_controller import OrganizeController
from desktop.controllers.settings_controller import SettingsController
from desktop.history import HistoryStore
from desktop.job_runner import JobOutcome
from desktop.models.jobs_model import JobsModel
from desktop.models.results_filter import ResultsFilterProxy
from desktop.models.results_model import PATH_ROLE, ResultsModel
from desktop.models.skipped_model import SkippedModel
from desktop.notify import Notifier
from desktop.rows import TableRow, row_from_skipped
from desktop.settings import DesktopSettings
from desktop.thumbnails import ThumbnailCache
from desktop.views.main_view import MainView
from desktop.window_state import WindowState, state_path
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
        self.gallery = GalleryController(view.results.gallery, self.results, self)
        self.organize = OrganizeController(view, self.results, stamps=lambda: self.jobs.stamps,
                                           threshold=lambda: self.gallery.threshold,
                                           busy=lambda: self.jobs.busy, parent=self)
        self.costs = CostController(view, self.connection, self.jobs, self.history, self)
        self.notifier = Notifier(view, parent=self)
        self.window_state = WindowState(state_path(settings_path))
        self.window_state.restore(view)

        view.results.filter_edit.textChanged.connect(self._filter_changed)
        view.results.status_combo.currentIndexChanged.connect(self._filter_changed)
        view.results.table.doubleClicked.connect(self.open_image)
        view.results.gallery.grid.doubleClicked.connect(self.open_image)
        self.jobs.job_finished.connect(self._job_finished)
        self.jobs.idle.connect(self.gallery.regroup)
        self.jobs.idle.connect(self.settle_memory)
        self.connection.connected.connect(lambda _cfg: self.settle_memory())  # start-up's objects, botocore's
        self.history_controller.loaded.connect(lambda _job: self.settle_memory())
        view.clear_action.triggered.connect(gc.unfreeze)  # what was kept may go now
        self.costs.priced.connect(lambda _priced: self.history_controller.refresh())
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
    def settle_memory(self) -> None:
        """Once connected, and whenever results stop arriving: one full garbage collection now, then what
        survives it (botocore's service models, the results: hundreds of thousands of small objects that
        live as long as the app) is left out of later ones. Otherwise each full collection walks them all,
        and the window stalls for 50-70 ms, mid-job or mid-scroll (bench/gui_latency.py, timed with
        gc.callbacks). Clear lets the results be collected again."""
        gc.collect()
        gc.freeze()

    @Slot(object)
    def _job_finished(self, outcome: JobOutcome) -> None:
        text = f"{outcome.results} images classified in {outcome.seconds:.0f} s" + \
            (" (cancelled)" if outcome.status == "cancelled" else "")
        self.notifier.job_done(outcome.seconds, f"Job done: {text}.")

    @Slot()
    def shutdown(self) -> None:
        """Remembers the window's layout, stops timers, cancels uploads, closes the session (its local
        workers drain), waits briefly."""
        if self._closed:
            return
        self._closed = True
        self.window_state.save(self.view)
        self.notifier.close()
        self.organize.shutdown()
        self.gallery.shutdown()
        self.jobs.shutdown()
        self.connection.shutdown()
        self.costs.shutdown()
        self.history_controller.shutdown()
