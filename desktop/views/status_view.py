"""The numbers at a glance: target, queue depth, workers, and the job's done / failed / remaining / ETA."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

_TILE_STYLE = """
QFrame#tile { background: palette(base); border: 1px solid palette(mid); border-radius: 6px; }
QLabel#value { font-size: 18px; font-weight: 600; }
QLabel#caption { color: palette(placeholder-text); }
"""


class _Tile(QFrame):
    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tile")
        self.value = QLabel("—")
        self.value.setObjectName("value")
        self.value.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label = QLabel(caption)
        label.setObjectName("caption")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(0)
        layout.addWidget(self.value)
        layout.addWidget(label)


class StatusView(QWidget):
    TILES = ("visible", "in_flight", "running", "booting", "done", "failed", "remaining", "eta", "cost")
    CAPTIONS = {
        "visible": "queued", "in_flight": "in flight", "running": "workers running", "booting": "booting",
        "done": "done", "failed": "failed", "remaining": "remaining", "eta": "ETA",
        "cost": "last job cost",
    }

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setStyleSheet(_TILE_STYLE)
        self.target_label = QLabel("Not connected")
        self.target_label.setObjectName("target")
        self.scaler_label = QLabel("")
        header = QHBoxLayout()
        header.addWidget(self.target_label, 1)
        header.addWidget(self.scaler_label)
        self.tiles = {name: _Tile(self.CAPTIONS[name]) for name in self.TILES}
        grid = QGridLayout()
        grid.setSpacing(6)
        for column, name in enumerate(self.TILES):
            grid.addWidget(self.tiles[name], 0, column)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(grid)

    def set_value(self, name: str, text: str) -> None:
        label = self.tiles[name].value
        if label.text() != text:
            label.setText(text)

    def set_target(self, text: str) -> None:
        self.target_label.setText(text)

    def set_scaler(self, text: str) -> None:
        self.scaler_label.setText(text)
