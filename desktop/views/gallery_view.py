"""The gallery beside the results table: groups with their counts on the left (click one to show only
it), the score under which a result counts as uncertain, and a grid of thumbnails.

The grid is a QListView in icon mode with uniform item sizes laid out in batches: it asks the model
only for the items on screen, however many results there are.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.models.gallery_model import GALLERY_THUMBNAIL, ITEM_SIZE

CELL = QSize(ITEM_SIZE.width() + 8, ITEM_SIZE.height() + 4)  # an item and the space around it
LAYOUT_BATCH = 256  # items laid out per event-loop turn


class GalleryView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.groups = QListView()
        self.groups.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.groups.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.groups.setUniformItemSizes(True)
        self.groups.setMinimumWidth(150)

        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setSingleStep(1)
        self.threshold.setPageStep(10)
        self.threshold.setToolTip("Results scoring under this are shown as Uncertain, not under their label "
                                  "(and Organize puts them in _uncertain)")
        self.threshold_label = QLabel()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Labels"))
        left_layout.addWidget(self.groups, 1)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.threshold_label)
        slider_row.addWidget(self.threshold, 1)
        left_layout.addLayout(slider_row)

        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(LAYOUT_BATCH)
        self.grid.setIconSize(QSize(GALLERY_THUMBNAIL, GALLERY_THUMBNAIL))
        self.grid.setGridSize(CELL)
        self.grid.setWordWrap(False)
        self.grid.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.grid.verticalScrollBar().setSingleStep(CELL.height() // 3)
        self.caption = QLabel("")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.caption)
        right_layout.addWidget(self.grid, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("gallery_splitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([200, 560])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.set_threshold(0.3)

    def set_models(self, groups, gallery) -> None:
        self.groups.setModel(groups)
        self.grid.setModel(gallery)

    def threshold_value(self) -> float:
        return self.threshold.value() / 100

    def set_threshold(self, value: float) -> None:
        self.threshold.setValue(round(value * 100))
        self.show_threshold()

    def show_threshold(self) -> None:
        self.threshold_label.setText(f"Uncertain under {self.threshold.value()} %")

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
