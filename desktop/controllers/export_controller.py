"""Export CSV (the `imgrec classify` columns) or JSON: the file is written in a Task."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from desktop.export import export
from desktop.rows import TableRow
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView


class ExportController(QObject):
    exported = Signal(str, int)  # path, rows
    failed = Signal(str)

    def __init__(self, view: MainView, rows: Callable[[], list[TableRow]], parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.rows = rows  # every row to export: results, failures and skipped files
        self.runner = TaskRunner(max_threads=1, parent=self)
        view.export_csv_action.triggered.connect(lambda: self._choose("csv"))
        view.export_json_action.triggered.connect(lambda: self._choose("json"))

    def _choose(self, kind: str) -> None:
        name_filter = "CSV files (*.csv)" if kind == "csv" else "JSON files (*.json)"
        path, _ = QFileDialog.getSaveFileName(self.view, f"Export {kind.upper()}", f"results.{kind}", name_filter)
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            self.export_to(path)

    def export_to(self, path: str) -> Task:
        """Writes every row (not only the filtered ones) to ``path``, off the GUI thread."""
        task = Task(export, path, self.rows(), name="export")
        task.signals.result.connect(self._on_done)
        task.signals.errored.connect(self._on_failed)
        self.runner.start(task)
        return task

    @Slot(object)
    def _on_done(self, value: tuple[str, int]) -> None:
        path, count = value
        self.view.statusBar().showMessage(f"Exported {count} rows to {path}", 10000)
        self.exported.emit(path, count)

    @Slot(object)
    def _on_failed(self, error: TaskError) -> None:
        self.view.statusBar().showMessage(f"Export failed: {error.message}", 10000)
        self.failed.emit(error.message)
