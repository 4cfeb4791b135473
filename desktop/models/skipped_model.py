"""Files that were not sent, with the reason: a list model over plain (name, reason) rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from desktop.models.list_table_model import Index, ListTableModel
from shared.scan import Skipped

HEADERS = ("File", "Reason")


class SkippedModel(ListTableModel):
    HEADERS = HEADERS
    _rows: list[Skipped]

    def append(self, rows: Iterable[Skipped]) -> None:
        rows = list(rows)
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()

    def reset(self, rows: Iterable[Skipped] = ()) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[Skipped]:
        return list(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return row.name if index.column() == 0 else row.reason
        return None
