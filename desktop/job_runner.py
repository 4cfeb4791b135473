"""One job, driven from the GUI thread: a :class:`JobHelper` runs the helper process
(:mod:`desktop.job_process`) under a ``QProcess`` and turns its event lines into signals.

No thread, queue or timer stands between the helper and the models: Qt's event loop tells the adapter
when the helper has written (``readyReadStandardOutput``), it reads the complete lines there, decodes
them with the one codec (:func:`desktop.job_process.decode_event`), and emits each burst of results as
one ``arrived`` signal that the jobs controller appends to its models in one update. The helper sends
results in batches (every 50 ms at most), so a thousand results cost a few dozen insertions.

The helper is started as every child is (:mod:`shared.children`: its command and environment), in a
session of its own and niced (:data:`cloud.local.priority.BACKGROUND`), so that its uploads take no CPU
share from the window. It writes the job's history itself (see :mod:`desktop.job_process`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal, Slot

from cloud.local.priority import BACKGROUND, SpawnOptions
from desktop.job_process import CANCEL, JobPlan, decode_event, encode_request
from shared.children import child_command, child_env, renice
from shared.config import Config

log = logging.getLogger(__name__)

__all__ = ["JobHelper", "JobOutcome", "JobPlan"]

STOP_GRACE_MS = 10_000  # after SIGTERM, the helper deletes its reply queue; then it is killed


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str  # finished | cancelled
    results: int
    seconds: float


class JobHelper(QObject):
    """The helper process of one job. ``start()``; ``cancel()`` stops the uploads (what was enqueued still
    comes back); ``abandon()`` stops waiting for results (the app is closing: they stay in the output
    bucket for History). Ends with exactly one of ``finished`` or ``failed``."""

    uploaded = Signal(str, int, int, int)  # job id, files, bytes, bytes saved (preview uploads)
    enqueued = Signal(str, int, bool)  # job id, results to wait for, cancelled
    arrived = Signal(str, list)  # job id, TableRows
    finished = Signal(object)  # JobOutcome
    failed = Signal(str, str)  # job id, message

    def __init__(self, cfg: Config, plan: JobPlan, history: str | None, target: str,
                 options: SpawnOptions = BACKGROUND, parent: QObject | None = None):
        super().__init__(parent)
        self.plan = plan
        self.options = options
        self._request = encode_request(cfg, plan, history, target)
        self._ending: dict | None = None
        self._done = False
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)  # its log
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)

    @property
    def job_id(self) -> str:
        return self.plan.job_id

    def start(self) -> None:
        program, *args = child_command("job-helper")
        env = QProcessEnvironment()
        for name, value in child_env().items():
            env.insert(name, value)
        self.process.setProcessEnvironment(env)
        if self.options.session and hasattr(QProcess, "UnixProcessParameters"):
            # What shared.children.spawn(session=True) does: on Linux a scheduler autogroup of its own.
            self.process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        self.process.start(program, args)
        if not self.process.waitForStarted(STOP_GRACE_MS):
            return  # errorOccurred reported it
        if self.options.niceness > 0:
            renice(self.process.processId(), self.options.niceness)
        self.process.write((self._request + "\n").encode())

    def cancel(self) -> None:
        if self.running:
            self.process.write((CANCEL + "\n").encode())

    def abandon(self) -> None:
        """SIGTERM: the helper stops waiting, deletes its reply queue and exits."""
        if self.running:
            self.process.terminate()

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def wait(self, ms: int = STOP_GRACE_MS) -> bool:
        """Blocks until the helper has exited (at most ``ms``), then kills it as a last resort."""
        if self.running and not self.process.waitForFinished(ms):
            log.warning("job process %d did not stop: killed", self.process.processId())
            self.process.kill()
            self.process.waitForFinished(1000)
            return False
        return True

    # --- the helper's output -------------------------------------------------------------------------
    @Slot()
    def _read(self) -> None:
        """Everything the helper wrote since the last read, as one update of each kind: the upload
        figures are running totals, so only the latest counts (a burst of a thousand per-file events
        once took the window 0.8 s to draw one by one)."""
        rows = []
        uploaded = enqueued = None
        while self.process.canReadLine():
            event = decode_event(bytes(self.process.readLine().data()))
            if event is None:
                continue
            kind = event["event"]
            if kind == "rows":
                rows.extend(event["rows"])
            elif kind == "uploaded":
                uploaded = event
            elif kind == "enqueued":
                enqueued = event
            elif kind in ("done", "error"):
                self._ending = event
        if uploaded is not None:
            self.uploaded.emit(self.job_id, uploaded["files"], uploaded["bytes"], uploaded["saved"])
        if enqueued is not None:
            self.enqueued.emit(self.job_id, enqueued["count"], enqueued["cancelled"])
        if rows:
            self.arrived.emit(self.job_id, rows)

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        ending = self._ending
        if ending is None:
            self._end(f"the job process exited with code {code} without a result")
        elif ending["event"] == "error":
            self._end(ending.get("message") or ending.get("kind") or "the job failed")
        else:
            self._end(None, JobOutcome(self.job_id, ending["status"], int(ending["results"]),
                                       float(ending["seconds"])))

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(f"the job process did not start: {self.process.errorString()}")

    def _end(self, message: str | None, outcome: JobOutcome | None = None) -> None:
        if self._done:
            return
        self._done = True
        if outcome is not None:
            self.finished.emit(outcome)
        else:
            self.failed.emit(self.job_id, message)
