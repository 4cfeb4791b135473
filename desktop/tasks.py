"""Background work for the GUI: a function run in a QRunnable with explicit signals and a cancel flag.

The model is superqt's ``thread_worker``: the function does plain Python (network, disk) and never
touches a widget; it reports through the task's signals, which Qt delivers on the GUI thread.

    task = Task(scan_paths, paths)          # scan_paths(task, paths) -> ScanResult
    task.signals.result.connect(on_scanned)
    task.signals.errored.connect(on_error)  # a TaskError, never a traceback on the screen
    runner.start(task)

No exception escapes :meth:`Task.run`: it becomes an ``errored`` signal. ``finished`` is always the
last signal of a task, after ``result`` or ``errored``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktop import pyside_fixes  # noqa: F401 - before any signal is emitted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskError:
    """What the GUI shows when a task fails: one readable line, the details kept for the log."""

    message: str
    kind: str
    details: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskError:
        text = str(exc).strip() or type(exc).__name__
        return cls(message=text.splitlines()[0], kind=type(exc).__name__,
                   details="".join(traceback.format_exception(exc)))


class TaskSignals(QObject):
    started = Signal()
    progress = Signal(object)
    result = Signal(object)
    errored = Signal(object)  # TaskError
    finished = Signal()


class Task(QRunnable):
    """Runs ``fn(task, *args, **kwargs)`` on a pool thread; ``fn`` may call ``task.cancelled()`` and
    ``task.report(value)`` (a ``progress`` signal)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)  # Python owns it: the runner keeps it alive until `finished`
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self._done = threading.Event()

    # --- called from any thread -------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def report(self, value: Any) -> None:
        self.signals.progress.emit(value)

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until run() has returned (for tests and shutdown, never from a slot)."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --- the pool thread ----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.signals.started.emit()
            value = self.fn(self, *self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - nothing escapes a worker's run()
            error = TaskError.from_exception(exc)
            log.warning("task %s failed: %s", self.name, error.message)
            log.debug("%s", error.details)
            try:
                self.signals.errored.emit(error)
            except RuntimeError:  # the signals object is gone: the app is closing
                pass
        else:
            try:
                self.signals.result.emit(value)
            except RuntimeError:
                pass
        finally:
            self._done.set()
            try:
                self.signals.finished.emit()
            except RuntimeError:
                pass


class TaskRunner(QObject):
    """A thread pool that keeps each task alive until its ``finished`` signal reached the GUI thread."""

    def __init__(self, max_threads: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        if max_threads:
            self.pool.setMaxThreadCount(max_threads)
        self._live: set[Task] = set()

    def start(self, task: Task, priority: int = 0) -> Task:
        """Queues ``task``; among queued tasks a higher ``priority`` runs first."""
        self._live.add(task)
        task.signals.finished.connect(lambda t=task: self._forget(t))
        self.pool.start(task, priority)
        return task

    @Slot()
    def _forget(self, task: Task) -> None:
        self._live.discard(task)

    @property
    def active(self) -> int:
        return len(self._live)

    def cancel_all(self) -> None:
        for task in list(self._live):
            task.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self.pool.waitForDone(timeout_ms)
