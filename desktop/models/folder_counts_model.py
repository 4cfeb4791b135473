"""Organize's preview: files per destination folder, largest first (shared.organize.Plan.counts())."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt

from desktop.models.list_table_model import Index, ListTableModel

HEADERS = ("Folder", "Files")


class FolderCountsModel(ListTableModel):
    HEADERS = HEADERS
    _rows: list[tuple[str, int]]

    def reset(self, counts: Sequence[tuple[str, int]] = ()) -> None:
        self.beginResetModel()
        self._rows = list(counts)
        self.endResetModel()

    def counts(self) -> list[tuple[str, int]]:
        return list(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        folder, files = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return folder if index.column() == 0 else f"{files:,}"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
