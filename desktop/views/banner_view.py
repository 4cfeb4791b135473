"""A banner across the top of the window: what went wrong, in one sentence, and a Retry button."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

_STYLE = """
QFrame#banner { background: #fdecea; border: 1px solid #f1aeb5; border-radius: 6px; }
QFrame#banner QLabel { color: #842029; }
"""


class BannerView(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet(_STYLE)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(self.message.textInteractionFlags())
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retry")
        self.settings_button = QPushButton("Settings…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.settings_button)
        layout.addWidget(self.retry_button)
        self.hide()

    def show_message(self, text: str, retrying: bool = False) -> None:
        self.message.setText(text)
        self.retry_button.setEnabled(not retrying)
        self.retry_button.setText("Retrying…" if retrying else "Retry")
        self.show()

    def set_retrying(self, retrying: bool) -> None:
        self.retry_button.setEnabled(not retrying)
        self.retry_button.setText("Retrying…" if retrying else "Retry")

    def clear(self) -> None:
        self.hide()
        self.message.clear()
