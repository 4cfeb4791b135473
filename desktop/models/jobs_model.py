"""Past jobs from the history database: when, what, where, and how many came back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt

from desktop.history import JobSummary
from desktop.models.list_table_model import Index, ListTableModel

HEADERS = ("Started", "Submitted", "Images", "Done", "Failed", "Missing", "Status", "Cost", "Target")
JOB_ID_ROLE = Qt.ItemDataRole.UserRole


class JobsModel(ListTableModel):
    HEADERS = HEADERS
    _rows: list[JobSummary]

    def reset(self, jobs: Sequence[JobSummary]) -> None:
        self.beginResetModel()
        self._rows = list(jobs)
        self.endResetModel()

    def jobs(self) -> list[JobSummary]:
        return list(self._rows)

    def job_at(self, row: int) -> JobSummary:
        return self._rows[row]

    def row_of(self, job_id: str) -> int:
        for row, job in enumerate(self._rows):
            if job.record.job_id == job_id:
                return row
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._rows[index.row()]
        record = job.record
        if role == JOB_ID_ROLE:
            return record.job_id
        if role == Qt.ItemDataRole.ToolTipRole:
            cost = f"\ncost: {job.cost_line}" if job.cost_line else ""
            return f"job {record.job_id}\n{record.title}\n{record.target}, bucket {record.output_bucket}{cost}"
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
            job.cost or "—",
            record.target,
        )
        return values[index.column()]
