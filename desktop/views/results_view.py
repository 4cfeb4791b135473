"""The results: the table with its filter box and status filter, and beside it the gallery by label."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.results_model import CONFIDENCE, ERROR, FILE, LABEL, LATENCY, THUMB, WORKER
from desktop.rows import DONE, FAILED
from desktop.thumbnails import THUMBNAIL_SIZE
from desktop.views.gallery_view import GalleryView

STATUS_CHOICES = (("All", ""), ("Classified", DONE), ("Failed", FAILED))


class ResultsView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by file, label, worker or error")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        for text, value in STATUS_CHOICES:
            self.status_combo.addItem(text, value)
        self.count_label = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.status_combo)
        bar.addWidget(self.count_label)

        self.table = QTableView()
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 6)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

        table_side = QWidget()
        table_layout = QVBoxLayout(table_side)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(bar)
        table_layout.addWidget(self.table)
        self.gallery = GalleryView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("results_splitter")
        self.splitter.addWidget(table_side)
        self.splitter.addWidget(self.gallery)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([640, 620])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def set_model(self, model) -> None:
        self.table.setModel(model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        widths = {THUMB: THUMBNAIL_SIZE + 12, FILE: 200, LABEL: 220, CONFIDENCE: 90, LATENCY: 80, WORKER: 130}
        for column, width in widths.items():
            self.table.setColumnWidth(column, width)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(ERROR, QHeaderView.ResizeMode.Stretch)
        self.table.sortByColumn(FILE, Qt.SortOrder.AscendingOrder)

    def status_filter(self) -> str:
        return self.status_combo.currentData() or ""

    def set_count(self, shown: int, total: int) -> None:
        self.count_label.setText(f"{shown} of {total}" if shown != total else f"{total} results")
