"""Filter and sort over the results table: a text filter (file, label, worker, error) and a status filter."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from desktop.models.results_model import ERROR, FILE, LABEL, SORT_ROLE, STATUS_ROLE, WORKER

ALL = ""  # status filter: every row
_TEXT_COLUMNS = (FILE, LABEL, WORKER, ERROR)


class ResultsFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self._text = ""
        self._status = ALL

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str) -> None:
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if self._status and model.data(model.index(source_row, 0, source_parent), STATUS_ROLE) != self._status:
            return False
        if not self._text:
            return True
        for column in _TEXT_COLUMNS:
            value = model.data(model.index(source_row, column, source_parent), Qt.ItemDataRole.DisplayRole)
            if value and self._text in str(value).lower():
                return True
        return False
