"""The History tab: past jobs from SQLite, reopened into the table; missing results re-collected
from the output bucket (JobClient.recollect) and stored locally. All of it in Tasks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from desktop.controllers.connection_controller import ConnectionController
from desktop.controllers.jobs_controller import JobsController
from desktop.history import HistoryStore, JobHistory, JobSummary
from desktop.models.jobs_model import JobsModel
from desktop.rows import TableRow, row_from_result
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView
from shared.config import Config
from shared.job import recollect as recollect_results
from shared.job_manifest import PENDING

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recollected:
    job_id: str
    rows: list[TableRow]
    still_missing: int


def list_jobs(task: Task, history: HistoryStore, mark_interrupted: bool = False) -> list[JobSummary]:
    if mark_interrupted:
        history.mark_interrupted()
    return history.jobs()


def load_job(task: Task, history: HistoryStore, job_id: str) -> JobHistory:
    return history.load(job_id)


def recollect(task: Task, cfg: Config, history: HistoryStore, job_id: str) -> Recollected:
    """The job's results from the output bucket; those not stored locally yet are stored and returned."""
    saved = history.load(job_id)
    results = recollect_results(cfg, job_id)
    missing = set(saved.missing)
    rows = [row_from_result(r, saved.paths.get(r.name)) for r in results
            if r.name in missing and r.error not in PENDING]
    history.add_rows(job_id, rows)
    return Recollected(job_id, rows, len(missing) - len(rows))


class HistoryController(QObject):
    loaded = Signal(object)  # JobHistory, once shown
    recollected = Signal(object)  # Recollected

    def __init__(self, view: MainView, history: HistoryStore, connection: ConnectionController,
                 jobs: JobsController, model: JobsModel, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.history = history
        self.connection = connection
        self.jobs = jobs
        self.model = model
        self.runner = TaskRunner(max_threads=1, parent=self)  # reads and writes in order
        self.shown_job: str | None = None
        self._pending_recollect: str | None = None

        view.history.set_model(model)
        view.history.open_button.clicked.connect(self.open_selected)
        view.history.table.doubleClicked.connect(lambda _index: self.open_selected())
        view.history.recollect_button.clicked.connect(self.recollect_selected)
        view.history.refresh_button.clicked.connect(self.refresh)
        jobs.job_finished.connect(lambda _outcome: self.refresh())
        jobs.job_failed.connect(lambda _job, _error: self.refresh())
        connection.connected.connect(self._on_connected)

    def start(self) -> None:
        self.refresh(mark_interrupted=True)

    @Slot()
    def refresh(self, mark_interrupted: bool = False) -> None:
        task = Task(list_jobs, self.history, mark_interrupted, name="history")
        task.signals.result.connect(self._on_jobs)
        task.signals.errored.connect(self._on_error)
        self.runner.start(task)

    @Slot(object)
    def _on_jobs(self, jobs: list[JobSummary]) -> None:
        selected = self.view.history.selected_row()
        selected_id = self.model.job_at(selected).record.job_id if selected >= 0 else None
        self.model.reset(jobs)
        if selected_id is not None and (row := self.model.row_of(selected_id)) >= 0:
            self.view.history.table.selectRow(row)
        self.view.set_tab_title(self.view.history, f"History ({len(jobs)})" if jobs else "History")

    def _selected_job(self) -> str | None:
        row = self.view.history.selected_row()
        return self.model.job_at(row).record.job_id if row >= 0 else None

    @Slot()
    def open_selected(self) -> None:
        job_id = self._selected_job()
        if job_id:
            self.open_job(job_id)

    def open_job(self, job_id: str) -> None:
        if self.jobs.busy:
            self.view.history.set_message("A job is running: open past jobs when it is done.")
            return
        task = Task(load_job, self.history, job_id, name="history load")
        task.signals.result.connect(self._on_loaded)
        task.signals.errored.connect(self._on_error)
        self.runner.start(task)

    @Slot(object)
    def _on_loaded(self, job: JobHistory) -> None:
        record = job.summary.record
        self.shown_job = record.job_id
        self.jobs.show_rows(job.rows, expected=record.total)
        self.view.tabs.setCurrentWidget(self.view.results)
        text = f"Showing job {record.job_id} ({record.title}): {len(job.rows)} rows stored"
        if job.missing:
            text += f", {len(job.missing)} results missing locally"
        self.view.history.set_message(text)
        self.view.statusBar().showMessage(text, 10000)
        self.loaded.emit(job)
        if job.missing:
            self.recollect_job(record.job_id)

    @Slot()
    def recollect_selected(self) -> None:
        job_id = self._selected_job() or self.shown_job
        if job_id:
            self.recollect_job(job_id)

    def recollect_job(self, job_id: str) -> None:
        cfg = self.connection.cfg
        if cfg is None:
            self._pending_recollect = job_id
            self.view.history.set_message("Not connected: missing results are re-collected once connected.")
            return
        self.view.history.set_message(f"Re-collecting job {job_id} from the output bucket…")
        task = Task(recollect, cfg, self.history, job_id, name="recollect")
        task.signals.result.connect(self._on_recollected)
        task.signals.errored.connect(self._on_error)
        self.runner.start(task)

    @Slot(object)
    def _on_connected(self, _cfg: Config) -> None:
        job_id, self._pending_recollect = self._pending_recollect, None
        if job_id:
            self.recollect_job(job_id)

    @Slot(object)
    def _on_recollected(self, found: Recollected) -> None:
        if found.job_id == self.shown_job and not self.jobs.busy:
            self.jobs.add_rows(found.rows)
        text = f"Re-collected {len(found.rows)} results of job {found.job_id} from the output bucket"
        if found.still_missing:
            text += f"; {found.still_missing} are not there (not done yet, or the bucket was emptied)"
        self.view.history.set_message(text)
        self.view.statusBar().showMessage(text, 10000)
        self.refresh()
        self.recollected.emit(found)

    @Slot(object)
    def _on_error(self, error: TaskError) -> None:
        self.view.history.set_message(f"History: {error.message}")

    def shutdown(self, wait_ms: int = 5000) -> None:
        self.runner.wait(wait_ms)
