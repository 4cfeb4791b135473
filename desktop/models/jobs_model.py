"""Past jobs from the history database: when, what, where, and how many came back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop.history import JobSummary

HEADERS = ("Started", "Submitted", "Images", "Done", "Failed", "Missing", "Status", "Target")
JOB_ID_ROLE = Qt.ItemDataRole.UserRole
_Index = QModelIndex | QPersistentModelIndex


class JobsModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: list[JobSummary] = []

    def reset(self, jobs: Sequence[JobSummary]) -> None:
        self.beginResetModel()
        self._jobs = list(jobs)
        self.endResetModel()

    def jobs(self) -> list[JobSummary]:
        return list(self._jobs)

    def job_at(self, row: int) -> JobSummary:
        return self._jobs[row]

    def row_of(self, job_id: str) -> int:
        for row, job in enumerate(self._jobs):
            if job.record.job_id == job_id:
                return row
        return -1

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._jobs[index.row()]
        record = job.record
        if role == JOB_ID_ROLE:
            return record.job_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"job {record.job_id}\n{record.title}\n{record.target}, bucket {record.output_bucket}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        values = (
            dt.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S"),
            record.title,
            str(record.total),
            str(job.done),
            str(job.failed),
            str(job.missing),
            record.status,
            record.target,
        )
        return values[index.column()]
