"""Organize…, Undo organize… and Write keywords… on finished results. Every look at the disk and every
file operation runs in a Task; the dialogs only show what the tasks report.

Organize: choose a destination, copy or move and a minimum score (the gallery's threshold to start
with) -> Preview (a plan: files per folder, and what will be skipped and why) -> Organize (the plan
carried out; Stop between files) -> what was placed and skipped. After a move the table follows the
files to their new place, and back again after Undo.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from desktop import organizing
from desktop.models.folder_counts_model import FolderCountsModel
from desktop.models.results_model import ResultsModel
from desktop.rows import DONE, SKIPPED
from desktop.tasks import Task, TaskError, TaskRunner
from desktop.views.main_view import MainView
from desktop.views.organize_view import KeywordsView, OrganizeView
from shared import organize as shared_organize

SHOWN_SKIPPED = 500  # reasons listed in the dialog; the rest are counted


def skipped_lines(skipped: list[tuple[Path, str]]) -> list[str]:
    lines = [f"{path}: {reason}" for path, reason in skipped[:SHOWN_SKIPPED]]
    if len(skipped) > SHOWN_SKIPPED:
        lines.append(f"… and {len(skipped) - SHOWN_SKIPPED:,} more")
    return lines


class OrganizeController(QObject):
    planned = Signal(object)  # shared.organize.Plan, shown in the dialog
    organized = Signal(object)  # organizing.Organized
    undone = Signal(object)  # shared.organize.UndoReport
    keywords_written = Signal(object)  # organizing.KeywordsWritten
    failed = Signal(str)

    def __init__(self, view: MainView, results: ResultsModel, stamps: Callable[[], dict],
                 threshold: Callable[[], float], busy: Callable[[], bool], parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.results = results
        self.stamps = stamps  # path -> how the file looked when it was sent
        self.threshold = threshold  # the gallery's uncertain threshold: the dialog's first minimum score
        self.busy = busy  # a job is running: its files must stay where they are
        self.runner = TaskRunner(max_threads=1, parent=self)  # one file operation at a time
        self.counts = FolderCountsModel(self)
        self.dialog: OrganizeView | None = None
        self.keywords_dialog: KeywordsView | None = None
        self.plan: shared_organize.Plan | None = None
        self.last_dest: str = ""
        self._moves: dict[str, dict[str, str]] = {}  # destination -> {old path: new path} of its last move
        self._task: Task | None = None
        view.organize_action.triggered.connect(self.open_dialog)
        view.undo_organize_action.triggered.connect(self._choose_undo)
        view.keywords_action.triggered.connect(self.open_keywords)

    def _finished_rows(self) -> list:
        return [row for row in self.results.rows() if row.status != SKIPPED]

    def _refuse(self, what: str) -> str | None:
        """Why ``what`` (organize, write keywords) cannot start now, or None."""
        if self.busy():
            return f"A job is running: {what} when it is done."
        if not any(row.status == DONE for row in self.results.rows()):
            return f"Nothing classified yet: nothing to {what}."
        return None

    # --- organize ---------------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> OrganizeView | None:
        why = self._refuse("organize")
        if why:
            self.view.statusBar().showMessage(why, 8000)
            return None
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dialog = OrganizeView(self.view, images=len(self._finished_rows()), min_score=self.threshold())
        dialog.set_counts_model(self.counts)
        self.counts.reset()
        self.plan = None
        if self.last_dest:
            dialog.dest_edit.setText(self.last_dest)
        dialog.browse_button.clicked.connect(lambda: self._browse(dialog))
        dialog.preview_button.clicked.connect(self.preview)
        dialog.organize_button.clicked.connect(self.run)
        dialog.stop_button.clicked.connect(self.stop)
        dialog.close_button.clicked.connect(dialog.reject)
        for changed in (dialog.dest_edit.textChanged, dialog.move_radio.toggled, dialog.min_score.valueChanged):
            changed.connect(self._options_changed)
        dialog.finished.connect(self._dialog_closed)
        self.dialog = dialog
        dialog.open()  # window-modal, without a nested event loop
        return dialog

    def _browse(self, dialog: OrganizeView) -> None:
        folder = QFileDialog.getExistingDirectory(dialog, "Organize into", dialog.dest_edit.text())
        if folder:
            dialog.dest_edit.setText(folder)

    @Slot()
    def _options_changed(self, *_args) -> None:
        if self.plan is not None and self.dialog is not None:
            self.plan = None
            self.counts.reset()
            self.dialog.organize_button.setEnabled(False)
            self.dialog.summary.setText("The options changed: Preview again.")

    @Slot()
    def preview(self) -> Task | None:
        dialog = self.dialog
        if dialog is None:
            return None
        dest, move, min_score = dialog.options()
        if not dest:
            dialog.summary.setText("Choose a destination folder first.")
            return None
        if self.busy():
            dialog.summary.setText("A job is running: organize its images when it is done.")
            return None
        dialog.summary.setText("Looking at the files…")
        dialog.preview_button.setEnabled(False)
        task = Task(organizing.plan, self._finished_rows(), dict(self.stamps()), dest, min_score, move,
                    name="organize plan")
        task.signals.result.connect(self._planned)
        task.signals.errored.connect(self._errored)
        task.signals.finished.connect(lambda: self._enable_preview())
        return self.runner.start(task)

    def _enable_preview(self) -> None:
        if self.dialog is not None and self._task is None:
            self.dialog.preview_button.setEnabled(True)

    @Slot(object)
    def _planned(self, plan: shared_organize.Plan) -> None:
        dialog = self.dialog
        if dialog is None:
            return
        self.plan = plan
        counts = plan.counts()
        self.counts.reset(counts)
        verb = "moved" if plan.move else "copied"
        text = f"{len(plan.placements):,} file(s) will be {verb} into {len(counts):,} folder(s) in {plan.dest}"
        if plan.skipped:
            text += f"; {len(plan.skipped):,} will be skipped (below, with the reason)"
        dialog.summary.setText(text + ".")
        dialog.show_skipped(skipped_lines(plan.skipped))
        dialog.organize_button.setEnabled(bool(plan.placements))
        self.planned.emit(plan)

    @Slot()
    def run(self) -> Task | None:
        dialog, plan = self.dialog, self.plan
        if dialog is None or plan is None:
            return None
        if self.busy():
            dialog.summary.setText("A job is running: organize its images when it is done.")
            return None
        dialog.set_busy(True)
        dialog.show_progress(0, len(plan.placements))
        task = Task(organizing.run, plan, name="organize")
        task.signals.progress.connect(lambda done_total: self._progress(*done_total))
        task.signals.result.connect(self._organized)
        task.signals.errored.connect(self._errored)
        task.signals.finished.connect(self._task_finished)
        self._task = task
        return self.runner.start(task)

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None:
            self.dialog.show_progress(done, total)

    @Slot()
    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    @Slot()
    def _task_finished(self) -> None:
        self._task = None
        if self.dialog is not None:
            self.dialog.set_busy(False)

    @Slot(object)
    def _organized(self, outcome: organizing.Organized) -> None:
        self.last_dest = str(outcome.dest)
        self.plan = None
        moved = outcome.moved
        if moved:
            self._moves[str(outcome.dest)] = {**self._moves.get(str(outcome.dest), {}), **moved}
            self.results.relocate(moved)
        verb = "moved" if outcome.move else "copied"
        text = f"{len(outcome.placed):,} file(s) {verb} into {outcome.dest}"
        if outcome.stopped:
            text += " before you stopped it"
        if outcome.skipped:
            text += f"; {len(outcome.skipped):,} skipped (below, with the reason)"
        text += ". Undo organize puts them back."
        self.view.undo_organize_action.setEnabled(True)
        self.view.statusBar().showMessage(text, 15000)
        if self.dialog is not None:
            self.dialog.summary.setText(text)
            self.dialog.show_skipped(skipped_lines(outcome.skipped))
            self.dialog.organize_button.setEnabled(False)
        self.organized.emit(outcome)

    @Slot(int)
    def _dialog_closed(self, _result: int) -> None:
        dialog, self.dialog = self.dialog, None
        if self._task is not None:
            self._task.cancel()  # stops between files; what was placed stays, and can be undone
        if dialog is not None:
            dialog.deleteLater()

    # --- undo -------------------------------------------------------------------------------------
    @Slot()
    def _choose_undo(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.view, "Undo organizing into", self.last_dest)
        if folder:
            self.undo(folder)

    def undo(self, dest: str) -> Task | None:
        if not (Path(dest) / shared_organize.MANIFEST).is_file():
            self.view.statusBar().showMessage(f"{dest} has no record of organizing ({shared_organize.MANIFEST}).",
                                              10000)
            return None
        self.view.statusBar().showMessage(f"Undoing organize in {dest}…")
        task = Task(organizing.undo, dest, name="undo organize")
        task.signals.result.connect(lambda report, d=dest: self._undone(d, report))
        task.signals.errored.connect(self._errored)
        return self.runner.start(task)

    def _undone(self, dest: str, report: shared_organize.UndoReport) -> None:
        moves = self._moves.pop(os.path.abspath(dest), {})
        back = {new: old for old, new in moves.items() if Path(old).exists()}
        if back:
            self.results.relocate(back)
        text = f"Undone: {report.restored:,} file(s) put back, {report.removed:,} copie(s) removed"
        if report.problems:
            text += f"; {len(report.problems):,} could not be put back: {report.problems[0]}"
            self.view.banner.show_message(text)
        self.view.statusBar().showMessage(text, 15000)
        self.undone.emit(report)

    # --- keywords ---------------------------------------------------------------------------------
    @Slot()
    def open_keywords(self) -> KeywordsView | None:
        why = self._refuse("write keywords")
        if why:
            self.view.statusBar().showMessage(why, 8000)
            return None
        if self.keywords_dialog is not None:
            self.keywords_dialog.raise_()
            return self.keywords_dialog
        ready = [row for row in self.results.rows() if row.ok and row.label]
        dialog = KeywordsView(self.view, images=len(ready))
        dialog.write_button.clicked.connect(self.write_keywords)
        dialog.stop_button.clicked.connect(self.stop)
        dialog.close_button.clicked.connect(dialog.reject)
        dialog.finished.connect(self._keywords_closed)
        self.keywords_dialog = dialog
        dialog.open()
        return dialog

    @Slot()
    def write_keywords(self) -> Task | None:
        dialog = self.keywords_dialog
        if dialog is None:
            return None
        rows = [row for row in self.results.rows() if row.ok and row.label]
        dialog.set_busy(True)
        dialog.summary.setText(f"Writing keywords for {len(rows):,} image(s)…")
        task = Task(organizing.write_sidecars, rows, dialog.top5_at_least(), name="keywords")
        task.signals.progress.connect(lambda done_total: dialog.show_progress(*done_total))
        task.signals.result.connect(self._keywords_done)
        task.signals.errored.connect(self._errored)
        task.signals.finished.connect(self._keywords_finished)
        self._task = task
        return self.runner.start(task)

    @Slot()
    def _keywords_finished(self) -> None:
        self._task = None
        if self.keywords_dialog is not None:
            self.keywords_dialog.set_busy(False)

    @Slot(object)
    def _keywords_done(self, outcome: organizing.KeywordsWritten) -> None:
        text = f"Keywords written to {outcome.written:,} sidecar(s)"
        if outcome.stopped:
            text += " before you stopped it"
        if outcome.failed:
            text += f"; {len(outcome.failed):,} could not be written (below, with the reason)"
        self.view.statusBar().showMessage(text, 15000)
        if self.keywords_dialog is not None:
            self.keywords_dialog.summary.setText(text + ".")
            self.keywords_dialog.failures.setPlainText(
                "\n".join(f"{name}: {why}" for name, why in outcome.failed[:SHOWN_SKIPPED]))
        self.keywords_written.emit(outcome)

    @Slot(int)
    def _keywords_closed(self, _result: int) -> None:
        dialog, self.keywords_dialog = self.keywords_dialog, None
        if self._task is not None:
            self._task.cancel()
        if dialog is not None:
            dialog.deleteLater()

    @Slot(object)
    def _errored(self, error: TaskError) -> None:
        text = f"Failed: {error.message}"
        for dialog in (self.dialog, self.keywords_dialog):
            if dialog is not None:
                dialog.summary.setText(text)
        self.view.statusBar().showMessage(text, 15000)
        self.failed.emit(error.message)

    def shutdown(self, wait_ms: int = 15_000) -> None:
        self.runner.cancel_all()
        self.runner.wait(wait_ms)
