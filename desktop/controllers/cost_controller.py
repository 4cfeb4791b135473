"""What each job cost (shared.job_cost): priced in a Task when the job ends, shown in the "last job
cost" tile and the status bar, stored in the history (its Cost column).

With the autoscaler running in this app, the instance-seconds are its own: every tick's running,
booting and draining workers go into an InstanceMeter, integrated over the job's time. With an external
scaler they are estimated from the workers' status objects. On the embedded cloud a job is free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from desktop.controllers.connection_controller import ConnectionController
from desktop.controllers.jobs_controller import JobsController
from desktop.history import HistoryStore
from desktop.job_runner import JobOutcome
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView
from shared import job_cost
from shared.config import Config


@dataclass(frozen=True)
class Priced:
    job_id: str
    cost: job_cost.JobCost


def price_job(task: Task, cfg: Config, figures: job_cost.JobFigures, started: float, ended: float,
              meter: job_cost.InstanceMeter | None, history: HistoryStore | None) -> Priced:
    """A Task body: the job's cost (AWS: a listing or two in the output bucket), stored in the history."""
    cost = job_cost.estimate(cfg, figures, started=started, ended=ended, meter=meter)
    if history is not None:
        history.set_cost(figures.job_id, cost)
    return Priced(figures.job_id, cost)


class CostController(QObject):
    priced = Signal(object)  # Priced

    def __init__(self, view: MainView, connection: ConnectionController, jobs: JobsController,
                 history: HistoryStore | None, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.connection = connection
        self.history = history
        self.meter = job_cost.InstanceMeter()
        self.runner = TaskRunner(max_threads=1, parent=self)
        self._started: dict[str, tuple[float, int]] = {}  # job id -> (Unix time it started, images)
        connection.bridge.decision.connect(self._on_tick)
        jobs.job_started.connect(self._on_started)
        jobs.job_finished.connect(self._on_finished)
        jobs.job_failed.connect(lambda job_id, _error: self._started.pop(job_id, None))

    @Slot(object)
    def _on_tick(self, tick) -> None:
        self.meter.add_tick(tick)

    @Slot(str, int)
    def _on_started(self, job_id: str, images: int) -> None:
        self._started[job_id] = (time.time(), images)

    @Slot(object)
    def _on_finished(self, outcome: JobOutcome) -> Task | None:
        started, images = self._started.pop(outcome.job_id, (time.time() - outcome.seconds, outcome.results))
        cfg = self.connection.cfg
        if cfg is None:
            self.view.status.set_value("cost", "—")
            return None
        session = self.connection.session
        meter = self.meter if session is not None and session.scaler is not None else None
        figures = job_cost.JobFigures(outcome.job_id, images=images, results=outcome.results)
        task = Task(price_job, cfg, figures, started, time.time(), meter, self.history, name="job cost")
        task.signals.result.connect(self._on_priced)
        task.signals.errored.connect(self._on_error)
        return self.runner.start(task)

    @Slot(object)
    def _on_priced(self, priced: Priced) -> None:
        self.view.status.set_value("cost", priced.cost.short())
        self.view.status.tiles["cost"].setToolTip(priced.cost.line())
        self.view.statusBar().showMessage(f"Job {priced.job_id} cost: {priced.cost.line()}", 15000)
        self.priced.emit(priced)

    @Slot(object)
    def _on_error(self, error: TaskError) -> None:
        self.view.status.set_value("cost", "?")
        self.view.status.tiles["cost"].setToolTip(f"The job's cost could not be estimated: {error.message}")

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.runner.wait(wait_ms)
