"""The scripted run behind ``--demo FOLDER --screenshot PNG [--gallery-screenshot PNG]``: connect,
submit, wait, capture the window, then (for the gallery) give the results the window's room and capture
it again once the thumbnails on screen are decoded, quit."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from desktop.job_runner import JobOutcome
from desktop.tasks import TaskError
from shared.config import Config

log = logging.getLogger(__name__)

SETTLE_MS = 1500  # after the last result: one more poll, so the chart shows the queue drained
THUMBNAILS_WAIT_MS = 10_000  # the gallery's thumbnails on screen: decoded within this, or shot as they are
POLL_MS = 100
GALLERY_WINDOW_HEIGHT = 1300  # for the gallery's picture: the results tab gets about 750 pixels


class DemoRun(QObject):
    def __init__(self, controller, app: QApplication, folder: Path, screenshot: Path | None,
                 timeout: float, parent: QObject | None = None, gallery_screenshot: Path | None = None):
        super().__init__(parent)
        self.controller = controller
        self.app = app
        self.folder = folder
        self.screenshot = screenshot
        self.gallery_screenshot = gallery_screenshot
        self.exit_code = 1
        self._submitted = False
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.setInterval(int(timeout * 1000))
        self._deadline.timeout.connect(self._timed_out)

    def start(self) -> None:
        self._deadline.start()
        connection = self.controller.connection
        connection.connected.connect(self._on_connected)
        connection.failed.connect(self._on_connect_failed)
        self.controller.jobs.job_finished.connect(self._on_finished)
        self.controller.jobs.job_failed.connect(self._on_failed)
        self.controller.jobs.idle.connect(self._on_idle)
        if connection.cfg is not None:
            self._on_connected(connection.cfg)

    @Slot(object)
    def _on_connected(self, _cfg: Config) -> None:
        if not self._submitted:
            self._submitted = True
            self.controller.jobs.submit_paths([str(self.folder)])

    @Slot(str)
    def _on_connect_failed(self, message: str) -> None:
        print(f"imgrec-desktop: cannot connect: {message}", file=sys.stderr)
        self.exit_code = 1
        QTimer.singleShot(0, self._capture)

    @Slot(object)
    def _on_finished(self, outcome: JobOutcome) -> None:
        jobs = self.controller.jobs
        print(f"imgrec-desktop: job {outcome.job_id}: {outcome.results} results in {outcome.seconds:.1f} s "
              f"({jobs.done} classified, {jobs.failed} failed)", file=sys.stderr)
        self.exit_code = 0 if outcome.status == "finished" else 1
        QTimer.singleShot(SETTLE_MS, self._capture)

    @Slot()
    def _on_idle(self) -> None:
        if self._submitted and not self.controller.jobs.jobs and self.controller.results.rowCount() == 0:
            print(f"imgrec-desktop: no images in {self.folder}", file=sys.stderr)
            self.exit_code = 1
            QTimer.singleShot(0, self._capture)

    @Slot(str, object)
    def _on_failed(self, job_id: str, error: TaskError) -> None:
        print(f"imgrec-desktop: job {job_id} failed: {error.message}", file=sys.stderr)
        self.exit_code = 1
        QTimer.singleShot(0, self._capture)

    @Slot()
    def _timed_out(self) -> None:
        print("imgrec-desktop: the demo timed out", file=sys.stderr)
        self.exit_code = 1
        self._capture()

    @Slot()
    def _capture(self) -> None:
        self._deadline.stop()
        if self.screenshot is not None:
            self._save(self.screenshot)
        if self.gallery_screenshot is not None and self.exit_code == 0:
            self._show_gallery()
            return
        self._finish()

    def _save(self, path: Path, widget=None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = (widget or self.controller.view).grab()
        if not image.save(str(path)):
            print(f"imgrec-desktop: could not write {path}", file=sys.stderr)
            self.exit_code = 1
        else:
            print(f"imgrec-desktop: screenshot {path} ({image.width()}x{image.height()})", file=sys.stderr)

    def _show_gallery(self) -> None:
        """A taller window whose results tab takes the room, the gallery most of its width; then the
        grid's thumbnails are awaited (decoded in the background) and the results tab is taken alone."""
        view = self.controller.view
        view.tabs.setCurrentWidget(view.results)
        view.resize(view.width(), GALLERY_WINDOW_HEIGHT)
        view.splitter.setSizes([1, 10_000])
        view.results.splitter.setSizes([430, 850])
        self.controller.gallery.select_group("")
        view.results.gallery.grid.scrollToTop()
        self._waited = 0
        QTimer.singleShot(POLL_MS, self._when_thumbnails_ready)

    @Slot()
    def _when_thumbnails_ready(self) -> None:
        self._waited += POLL_MS
        runner = self.controller.gallery.thumbnails.runner
        if (runner.active or self._waited < 3 * POLL_MS) and self._waited < THUMBNAILS_WAIT_MS:
            QTimer.singleShot(POLL_MS, self._when_thumbnails_ready)
            return
        self._save(self.gallery_screenshot, self.controller.view.results)
        self._finish()

    def _finish(self) -> None:
        self.controller.view.close()
        self.app.quit()
