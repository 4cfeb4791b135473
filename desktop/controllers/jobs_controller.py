"""Submitting work and watching it come back.

Drop / Add folder / Add files -> a scan Task (shared.scan, off the GUI thread) -> skipped files
listed with their reason -> a job helper process (upload, enqueue, collect: desktop.job_runner.JobHelper)
per submission. Retry failed sends the failed images that are on this computer again, as a job of their
own. Progress and results reach the models straight from the helper's output signals, on the GUI thread;
the helper sends results in batches, so thousands of results cost a few dozen table insertions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from desktop.controllers.connection_controller import ConnectionController
from desktop.history import HistoryStore
from desktop.job_runner import JobHelper, JobOutcome, JobPlan
from desktop.models.results_filter import ResultsFilterProxy
from desktop.models.results_model import ResultsModel
from desktop.models.skipped_model import SkippedModel
from desktop.progress import RateMeter, format_bytes, format_eta
from desktop.rows import DONE, FAILED, SKIPPED, TableRow, row_from_skipped
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView
from shared.config import Config
from shared.job import new_job_id
from shared.scan import Item, ScanResult, scan, stamp

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None  # (size, mtime_ns) of a file when it was sent: Organize skips it if it changed


def scan_paths(task: Task, paths: list[str]) -> tuple[ScanResult, dict[str, Stamp]]:
    """The images and skipped files under ``paths``, and how each image looks now."""
    found = scan(paths)
    return found, {str(item.path): stamp(item.path) for item in found.images}


@dataclass(frozen=True)
class Rescanned:
    items: list[tuple[TableRow, Item]]  # failed rows that can be sent again, each with its file
    left: list[tuple[TableRow, str]]  # failed rows that cannot, and why
    stamps: dict[str, Stamp]


def rescan_failed(task: Task, rows: list[TableRow]) -> Rescanned:
    """A Task body: which failed rows' files are still images on this computer (scanned again)."""
    items, left, stamps = [], [], {}
    for row in rows:
        if not row.path:
            left.append((row, "not sent from a file on this computer"))
            continue
        found = scan([row.path])
        if not found.images:
            reason = found.skipped[0].reason if found.skipped else "the file is gone"
            left.append((row, reason))
            continue
        item = replace(found.images[0], name=row.name)  # the name it had in its job
        items.append((row, item))
        stamps[str(item.path)] = stamp(item.path)
    return Rescanned(items, left, stamps)


def title_for(paths: list[str]) -> str:
    first = Path(paths[0]).name or paths[0]
    return first if len(paths) == 1 else f"{first} (+{len(paths) - 1} more)"


@dataclass
class ActiveJob:
    plan: JobPlan
    helper: JobHelper | None = None
    files_done: int = 0
    bytes_done: int = 0
    bytes_saved: int = 0  # not sent, thanks to preview uploads
    expected: int = 0  # results to wait for (images, until the enqueue says how many were sent)
    received: int = 0
    enqueued: bool = False
    started: float = field(default_factory=time.monotonic)


class JobsController(QObject):
    job_started = Signal(str, int)  # job id, images
    job_finished = Signal(object)  # JobOutcome
    job_failed = Signal(str, object)  # job id, TaskError
    idle = Signal()  # no job scanning, waiting or running

    def __init__(self, view: MainView, connection: ConnectionController, history: HistoryStore | None,
                 results: ResultsModel, proxy: ResultsFilterProxy, skipped: SkippedModel,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.connection = connection
        self.history = history
        self.results = results
        self.proxy = proxy
        self.skipped = skipped
        self.scans = TaskRunner(max_threads=1, parent=self)
        self.jobs: dict[str, ActiveJob] = {}  # running and waiting jobs
        self.waiting: list[JobPlan] = []  # scanned, waiting for a connection
        self.rate = RateMeter()
        self.submitted = self.done = self.failed = 0
        self.stamps: dict[str, Stamp] = {}  # path -> how the file looked when it was sent (for Organize)
        self._scanning = 0

        self.eta_timer = QTimer(self)  # the ETA moves even when no result arrives
        self.eta_timer.setInterval(1000)
        self.eta_timer.timeout.connect(self._show_counters)

        view.paths_dropped.connect(self.submit_paths)
        view.add_folder_action.triggered.connect(self._choose_folder)
        view.add_files_action.triggered.connect(self._choose_files)
        view.upload.cancel_button.clicked.connect(self.cancel)
        view.clear_action.triggered.connect(self.clear)
        view.retry_action.triggered.connect(self.retry_failed)
        connection.connected.connect(self._on_connected)
        self._show_counters()

    # --- submit ----------------------------------------------------------------------------------
    @Slot()
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.view, "Add folder")
        if folder:
            self.submit_paths([folder])

    @Slot()
    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.view, "Add files", "",
                                                "Images (*.jpg *.jpeg *.png *.gif *.bmp *.webp *.tif *.tiff);;"
                                                "All files (*)")
        if files:
            self.submit_paths(files)

    @Slot(list)
    def submit_paths(self, paths: list[str]) -> None:
        """Scans (off the GUI thread), then submits what was found as one job."""
        if not paths:
            return
        self._scanning += 1
        self.view.upload.set_caption(f"Looking for images in {title_for(paths)}…")
        task = Task(scan_paths, list(paths), name="scan")
        task.signals.result.connect(lambda value, p=list(paths): self._on_scanned(p, *value))
        task.signals.errored.connect(self._on_scan_failed)
        self.scans.start(task)

    def _on_scanned(self, paths: list[str], found: ScanResult, stamps: dict[str, Stamp]) -> None:
        self._scanning -= 1
        self.stamps.update(stamps)
        plan = JobPlan(job_id=new_job_id(), title=title_for(paths), items=tuple(found.images),
                       skipped=tuple(found.skipped))
        self.skipped.append(found.skipped)
        if found.skipped:
            self.view.set_tab_title(self.view.skipped, f"Skipped ({len(self.skipped.rows())})")
        # A skipped file that looks like an image failed; it shows in the table with its reason.
        failed = [row_from_skipped(s, plan.job_id) for s in found.skipped if s.looks_like_image]
        if failed:
            self.results.append(failed)
            self.failed += len(failed)
        if not plan.items:
            self.view.upload.set_caption(f"No images in {plan.title}"
                                         + (f" ({len(found.skipped)} files skipped)" if found.skipped else ""))
            self._show_counters()
            self._maybe_idle()
            return
        self.submitted += len(plan.items)
        self._show_counters()
        self._start_when_connected(plan, f"{len(plan.items)} images from {plan.title}")

    @Slot(object)
    def _on_scan_failed(self, error: TaskError) -> None:
        self._scanning -= 1
        self.view.upload.set_caption(f"Could not read what was dropped: {error.message}")
        self._maybe_idle()

    @Slot(object)
    def _on_connected(self, cfg: Config) -> None:
        waiting, self.waiting = self.waiting, []
        for plan in waiting:
            self._start(plan, cfg)

    # --- retry ------------------------------------------------------------------------------------
    @Slot()
    def retry_failed(self) -> Task | None:
        """Sends the failed images again (those whose file is on this computer and still an image), as a
        job of their own; their rows leave the table and come back with the new results."""
        failed = [row for row in self.results.rows() if row.status == FAILED]
        if not failed:
            self.view.statusBar().showMessage("No failed images to retry.", 8000)
            return None
        if self.busy:
            self.view.statusBar().showMessage("A job is running: retry the failed images when it is done.", 8000)
            return None
        self._scanning += 1
        self.view.upload.set_caption(f"Looking at {len(failed)} failed image(s) again…")
        task = Task(rescan_failed, failed, name="retry scan")
        task.signals.result.connect(self._on_rescanned)
        task.signals.errored.connect(self._on_scan_failed)
        return self.scans.start(task)

    @Slot(object)
    def _on_rescanned(self, found: Rescanned) -> None:
        self._scanning -= 1
        why = f"; {len(found.left)} cannot be sent again ({found.left[0][1]})" if found.left else ""
        if not found.items:
            self.view.upload.set_caption(f"None of the failed images can be retried{why}.")
            self._maybe_idle()
            return
        self.stamps.update(found.stamps)
        self.results.remove([row for row, _item in found.items])
        self.failed -= len(found.items)  # they are remaining again
        plan = JobPlan(job_id=new_job_id(), title=f"retry of {len(found.items)} failed image(s)",
                       items=tuple(item for _row, item in found.items))
        self.view.statusBar().showMessage(f"Retrying {len(plan.items)} failed image(s){why}.", 10000)
        self._show_counters()
        self._start_when_connected(plan, f"{len(plan.items)} images to retry")

    def _start_when_connected(self, plan: JobPlan, what: str) -> None:
        cfg = self.connection.cfg
        if cfg is None:
            self.waiting.append(plan)
            self.view.upload.set_caption(f"{what} wait for the connection…")
        else:
            self._start(plan, cfg)

    def _start(self, plan: JobPlan, cfg: Config) -> None:
        cfg = self.connection.settings.for_job(cfg)  # the upload setting applies from the next job on
        history = str(self.history.path) if self.history is not None else None
        helper = JobHelper(cfg, plan, history, self.connection.target, parent=self)
        helper.uploaded.connect(self._on_uploaded)
        helper.enqueued.connect(self._on_enqueued)
        helper.arrived.connect(self._on_arrived)
        helper.finished.connect(self._on_job_done)
        helper.failed.connect(self._on_job_failed)
        self.jobs[plan.job_id] = ActiveJob(plan=plan, helper=helper, expected=len(plan.items))
        self.job_started.emit(plan.job_id, len(plan.items))
        self.view.upload.set_cancellable(True)
        self.view.clear_action.setEnabled(False)
        if not self.eta_timer.isActive():
            self.eta_timer.start()
        self._show_uploads()
        helper.start()

    @Slot()
    def cancel(self) -> None:
        """Stops uploading; what was enqueued stays enqueued and its results still arrive."""
        for job in self.jobs.values():
            if job.helper is not None and not job.enqueued:
                job.helper.cancel()
        self.waiting.clear()
        self.view.upload.set_cancellable(False)
        self.view.upload.set_caption("Cancelling: uploads stop, results of what was sent still arrive…")

    @Slot()
    def clear(self) -> None:
        if self.jobs:
            return
        self.results.reset()
        self.skipped.reset()
        self.stamps.clear()
        self.view.set_tab_title(self.view.skipped, "Skipped")
        self.submitted = self.done = self.failed = 0
        self.rate.reset()
        self.view.upload.show_progress(0, 0, 0, 0)
        self.view.upload.show_saved(0, 0)
        self.view.upload.set_caption("Drop images or folders anywhere on this window.")
        self._show_counters()

    def show_rows(self, rows: list[TableRow], expected: int) -> None:
        """Replaces the table with a past job's rows (the history controller reopens jobs)."""
        self.results.reset(rows)
        self.skipped.reset()
        self.view.set_tab_title(self.view.skipped, "Skipped")
        self.submitted = expected + sum(1 for r in rows if r.status == FAILED and not r.request_id)
        self.done = sum(1 for r in rows if r.status == DONE)
        self.failed = sum(1 for r in rows if r.status == FAILED)
        self.rate.reset()
        self._show_counters()

    def add_rows(self, rows: list[TableRow]) -> None:
        """Rows re-collected for the job on show."""
        added = [r for r in rows if r.status != SKIPPED]
        self.results.append(added)
        self.done = sum(1 for r in self.results.rows() if r.status == DONE)
        self.failed = sum(1 for r in self.results.rows() if r.status == FAILED)
        self._show_counters()

    @property
    def busy(self) -> bool:
        return bool(self.jobs or self.waiting or self._scanning)

    # --- the helpers' signals (GUI thread) ------------------------------------------------------------
    @Slot(str, list)
    def _on_arrived(self, job_id: str, rows: list[TableRow]) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.received += len(rows)
        added = self.results.append(rows)
        ok = sum(1 for r in rows if r.status == DONE)
        self.done += ok
        self.failed += len(rows) - ok
        self.rate.add(added)
        self._show_counters()

    @Slot(str, int, int, int)
    def _on_uploaded(self, job_id: str, files: int, nbytes: int, saved: int) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.files_done = max(job.files_done, files)
            job.bytes_done = max(job.bytes_done, nbytes)
            job.bytes_saved = max(job.bytes_saved, saved)
            self._show_uploads()

    @Slot(str, int, bool)
    def _on_enqueued(self, job_id: str, count: int, _cancelled: bool) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.enqueued = True
            self.submitted += count - job.expected
            job.expected = count
            self._show_uploads()
            self._show_counters()

    def _show_uploads(self) -> None:
        if not self.jobs:
            return  # the last job's totals stay on show
        files_total = sum(len(j.plan.items) for j in self.jobs.values())
        bytes_total = sum(j.plan.total_bytes for j in self.jobs.values())
        files_done = sum(len(j.plan.items) if j.enqueued else j.files_done for j in self.jobs.values())
        bytes_done = sum(j.plan.total_bytes if j.enqueued else j.bytes_done for j in self.jobs.values())
        self.view.upload.show_progress(files_done, files_total, bytes_done, bytes_total)
        self.view.upload.show_saved(sum(j.bytes_saved for j in self.jobs.values()),
                                    sum(j.bytes_done for j in self.jobs.values()))
        uploading = [j for j in self.jobs.values() if not j.enqueued]
        if uploading:
            self.view.upload.set_caption(f"Uploading {files_total - files_done} of {files_total} images "
                                         f"({format_bytes(bytes_total - bytes_done)} left)…")
        else:
            waiting = sum(max(0, j.expected - j.received) for j in self.jobs.values())
            self.view.upload.set_caption(f"All uploaded; waiting for {waiting} results…")
            self.view.upload.set_cancellable(False)

    def _show_counters(self) -> None:
        status = self.view.status
        remaining = max(0, self.submitted - self.done - self.failed)
        status.set_value("done", str(self.done))
        status.set_value("failed", str(self.failed))
        status.set_value("remaining", str(remaining))
        status.set_value("eta", format_eta(self.rate.eta(remaining)) if self.jobs else "—")
        total = self.results.rowCount()
        self.view.results.set_count(self.proxy.rowCount(), total)
        self.view.set_tab_title(self.view.results, f"Results ({total})" if total else "Results")

    # --- job end -------------------------------------------------------------------------------------
    @Slot(object)
    def _on_job_done(self, outcome: JobOutcome) -> None:
        job = self.jobs.pop(outcome.job_id, None)
        if job is not None and outcome.status == "cancelled":
            self.submitted -= max(0, job.expected - job.received)
        self.view.statusBar().showMessage(
            f"Job {outcome.job_id}: {outcome.results} results in {outcome.seconds:.1f} s"
            + (" (cancelled)" if outcome.status == "cancelled" else ""), 10000)
        self._after_job(job)
        self.job_finished.emit(outcome)

    @Slot(str, str)
    def _on_job_failed(self, job_id: str, message: str) -> None:
        error = TaskError(message, "JobFailed")
        job = self.jobs.pop(job_id, None)
        if job is not None:
            self.submitted -= max(0, job.expected - job.received)
        self.view.banner.show_message(f"Job {job_id} stopped: {error.message}. "
                                      "Its results can be re-collected from the History tab.")
        self._after_job(job)
        self.job_failed.emit(job_id, error)

    def _after_job(self, job: ActiveJob | None) -> None:
        if job is not None and job.helper is not None:
            job.helper.deleteLater()  # it has exited
        self._show_uploads()
        self._show_counters()
        if not self.jobs:
            self.eta_timer.stop()
            self.view.upload.set_cancellable(False)
            self.view.clear_action.setEnabled(True)
            self.view.upload.set_caption(f"Done: {self.done} classified, {self.failed} failed. "
                                         "Drop more images or folders anywhere on this window.")
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self.busy:
            self.idle.emit()

    def shutdown(self, wait_ms: int = 15_000) -> None:
        """Stops uploads and stops waiting for results (they stay in the output bucket: History
        re-collects them), then waits for the job helpers to close their reply queues."""
        self.eta_timer.stop()
        helpers = [job.helper for job in self.jobs.values() if job.helper is not None]
        for helper in helpers:
            helper.abandon()
        self.scans.wait(wait_ms)
        self.wait(wait_ms)

    def wait(self, wait_ms: int = 15_000) -> bool:
        """Blocks until every job helper has exited, ``wait_ms`` for all of them together (one still running
        then is killed)."""
        deadline = time.monotonic() + wait_ms / 1000
        return all([helper.wait(max(0, int((deadline - time.monotonic()) * 1000)))
                    for helper in self.findChildren(JobHelper)])
