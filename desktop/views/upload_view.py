"""Upload progress: files and bytes, with a Cancel button, and the bytes that previews saved."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QWidget

from desktop.progress import format_bytes


class UploadView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.files_bar = QProgressBar()
        self.files_bar.setFormat("%v / %m files")
        self.bytes_bar = QProgressBar()
        self.bytes_bar.setTextVisible(True)
        self.caption = QLabel("Drop images or folders anywhere on this window.")
        self.saved_label = QLabel()  # shown once preview uploads have saved something
        self.saved_label.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption, 0, 0, 1, 3)
        layout.addWidget(QLabel("Files"), 1, 0)
        layout.addWidget(self.files_bar, 1, 1)
        layout.addWidget(self.cancel_button, 1, 2, 2, 1)
        layout.addWidget(QLabel("Bytes"), 2, 0)
        layout.addWidget(self.bytes_bar, 2, 1)
        layout.addWidget(self.saved_label, 3, 1)
        layout.setColumnStretch(1, 1)
        self.show_progress(0, 0, 0, 0)

    def show_progress(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
        self.files_bar.setRange(0, max(files_total, 1))
        self.files_bar.setValue(min(files_done, max(files_total, 1)) if files_total else 0)
        self.files_bar.setFormat(f"{files_done} / {files_total} files")
        # QProgressBar holds an int: count kilobytes so multi-gigabyte jobs do not overflow.
        self.bytes_bar.setRange(0, max(bytes_total // 1024, 1))
        self.bytes_bar.setValue(min(bytes_done // 1024, max(bytes_total // 1024, 1)) if bytes_total else 0)
        self.bytes_bar.setFormat(f"{format_bytes(bytes_done)} / {format_bytes(bytes_total)}")

    def show_saved(self, saved: int, of: int) -> None:
        """``saved`` bytes of the ``of`` bytes uploaded so far were not sent (previews)."""
        if saved > 0 and of > 0:
            self.saved_label.setText(f"Saved {format_bytes(saved)} ({saved / of:.0%}) by uploading previews")
        self.saved_label.setVisible(saved > 0)

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def set_cancellable(self, enabled: bool) -> None:
        self.cancel_button.setEnabled(enabled)
