"""Filter and sort over the results table: a text filter (file, label, worker, error) and a status filter."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from desktop.models.results_model import SORT_ROLE

ALL = ""  # status filter: every row


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
        if not self._status and not self._text:
            return True  # no Python round trips per row while results pour in unfiltered
        row = self.sourceModel().row_at(source_row)
        if self._status and row.status != self._status:
            return False
        if not self._text:
            return True
        return any(self._text in value.lower() for value in (row.name, row.label, row.worker, row.error) if value)
