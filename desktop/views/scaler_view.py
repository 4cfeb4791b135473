"""The scaler switch (in this app, or external and only observed) and the log of its decisions."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPlainTextEdit, QRadioButton, QVBoxLayout, QWidget

LOG_LINES = 2000


class ScalerView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.in_app_radio = QRadioButton("Run the autoscaler in this app")
        self.external_radio = QRadioButton("External scaler (observe only)")
        self.group = QButtonGroup(self)
        self.group.addButton(self.in_app_radio)
        self.group.addButton(self.external_radio)
        switch = QHBoxLayout()
        switch.addWidget(self.in_app_radio)
        switch.addWidget(self.external_radio)
        switch.addStretch(1)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("The autoscaler's decisions appear here, one line per change.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(switch)
        layout.addWidget(self.log)

    def set_in_app(self, in_app: bool) -> None:
        (self.in_app_radio if in_app else self.external_radio).setChecked(True)

    def append_lines(self, lines: list[str]) -> None:
        for line in lines:
            self.log.appendPlainText(line)
