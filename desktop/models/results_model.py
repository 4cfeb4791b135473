"""The results table: one row per image (classified or failed), over a plain list of TableRow.

Rows arrive in batches (:meth:`append`), one insertion per batch, so thousands of results cost a
few dozen model updates. Numeric columns sort by value through ``SORT_ROLE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, Slot
from PySide6.QtGui import QBrush, QColor

from desktop.models.list_table_model import Index, ListTableModel
from desktop.rows import FAILED, TableRow
from desktop.thumbnails import ThumbnailCache
from shared import results_csv

THUMB, FILE, LABEL, CONFIDENCE, LATENCY, WORKER, ERROR = range(7)
HEADERS = ("", "File", "Label", "Confidence", "Latency", "Worker", "Error")

SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3

_ERROR_COLOUR = QColor("#b3261e")



def top5_tooltip(row: TableRow) -> str:
    if row.error:
        return row.error
    if not row.top5:
        return row.label
    lines = [f"{label}  {score * 100:.1f} %" for label, score in row.top5]
    return "Top 5\n" + "\n".join(lines)


class ResultsModel(ListTableModel):
    HEADERS = HEADERS

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[TableRow] = []
        self._by_path: dict[str, list[int]] = {}
        self._keys: set[tuple[str, str]] = set()  # (job, name) already shown: a result is shown once
        self._name_keys: list[tuple] = []  # per row: its name's natural sort key, made once (sorting asks often)
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    # --- data in ------------------------------------------------------------------------------
    def append(self, rows: Iterable[TableRow]) -> int:
        """Adds the rows not shown yet (by job and name), in one insertion. Returns how many were added."""
        fresh = []
        for row in rows:
            key = (row.job_id, row.name)
            if key in self._keys:
                continue
            self._keys.add(key)
            fresh.append(row)
        if not fresh:
            return 0
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for offset, row in enumerate(fresh):
            self._rows.append(row)
            self._name_keys.append(results_csv.natural_key(row.name))
            if row.path:
                self._by_path.setdefault(row.path, []).append(first + offset)
        self.endInsertRows()
        return len(fresh)

    def reset(self, rows: Sequence[TableRow] = ()) -> None:
        self.beginResetModel()
        self._rows, self._by_path, self._keys, self._name_keys = [], {}, set(), []
        self.endResetModel()
        self.append(rows)

    def relocate(self, moved: Mapping[str, str]) -> int:
        """Rows whose file moved (old path -> new path) point at its new place. Returns how many."""
        changed = []
        for old, new in moved.items():
            for r in self._by_path.pop(old, ()):
                self._rows[r] = replace(self._rows[r], path=new)
                self._by_path.setdefault(new, []).append(r)
                changed.append(r)
        if changed:  # one signal for the span, not one per row: a move of thousands of files is one update
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(HEADERS) - 1))
        return len(changed)

    def remove(self, rows: Iterable[TableRow]) -> int:
        """Takes these rows out (by job and name); returns how many went."""
        gone = {(row.job_id, row.name) for row in rows}
        kept = [row for row in self._rows if (row.job_id, row.name) not in gone]
        removed = len(self._rows) - len(kept)
        if removed:
            self.reset(kept)
        return removed

    def rows(self) -> list[TableRow]:
        return list(self._rows)

    def row_at(self, row: int) -> TableRow:
        return self._rows[row]

    # --- Qt model -----------------------------------------------------------------------------
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(row, column)
        if role == SORT_ROLE:
            return self._name_keys[index.row()] if column in (THUMB, FILE) else _sort_key(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == THUMB:
            return self.thumbnails.get(row.path) if self.thumbnails is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (THUMB, FILE):
                return row.path or row.name
            return top5_tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole and row.status == FAILED and column in (LABEL, ERROR):
            return QBrush(_ERROR_COLOUR)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (CONFIDENCE, LATENCY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == PATH_ROLE:
            return row.path
        if role == ROW_ROLE:
            return row
        if role == STATUS_ROLE:
            return row.status
        return None

    @Slot(str)
    def _thumbnail_ready(self, path: str) -> None:
        for row in self._by_path.get(path, ()):
            index = self.index(row, THUMB)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


def _display(row: TableRow, column: int) -> str | None:
    if column == FILE:
        return row.name
    if column == LABEL:
        return row.label if row.label else ("failed" if row.status == FAILED else "")
    if column == CONFIDENCE:
        return "" if row.score is None else f"{row.score * 100:.1f} %"
    if column == LATENCY:
        return "" if row.latency_s is None else f"{row.latency_s:.2f} s"
    if column == WORKER:
        return row.worker
    if column == ERROR:
        return row.error
    return None


def _sort_key(row: TableRow, column: int) -> Any:
    if column == CONFIDENCE:
        return -1.0 if row.score is None else row.score
    if column == LATENCY:
        return -1.0 if row.latency_s is None else row.latency_s
    text = _display(row, column) or ""
    return text.lower()
