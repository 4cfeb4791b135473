"""Two dialogs on finished results: Organize (a destination, copy or move, a minimum score; a preview
of the files per folder before anything moves) and Write keywords (XMP sidecars). Layout only: the
OrganizeController wires them."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)


def _percent_box(value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, 100.0)
    box.setDecimals(0)
    box.setSingleStep(5.0)
    box.setSuffix(" %")
    box.setValue(value * 100)
    return box


class OrganizeView(QDialog):
    def __init__(self, parent: QWidget | None = None, images: int = 0, min_score: float = 0.3):
        super().__init__(parent)
        self.setWindowTitle("Organize into folders")
        self.resize(560, 560)
        self.intro = QLabel(f"Copies or moves the {images:,} classified image(s) into one folder per label. "
                            "Images under the minimum score go to _uncertain, failed ones to _failed. "
                            "Nothing is overwritten, and Undo organize puts everything back.")
        self.intro.setWordWrap(True)

        self.dest_edit = QLineEdit()
        self.dest_edit.setPlaceholderText("Destination folder")
        self.browse_button = QPushButton("Choose…")
        dest_row = QHBoxLayout()
        dest_row.addWidget(self.dest_edit, 1)
        dest_row.addWidget(self.browse_button)
        self.copy_radio = QRadioButton("Copy (the originals stay)")
        self.move_radio = QRadioButton("Move")
        self.copy_radio.setChecked(True)
        self.mode = QButtonGroup(self)
        self.mode.addButton(self.copy_radio)
        self.mode.addButton(self.move_radio)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.copy_radio)
        mode_row.addWidget(self.move_radio)
        mode_row.addStretch(1)
        self.min_score = _percent_box(min_score)
        form = QFormLayout()
        form.addRow("Into", dest_row)
        form.addRow("How", mode_row)
        form.addRow("Minimum score", self.min_score)

        self.preview_button = QPushButton("Preview")
        self.counts = QTableView()
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.verticalHeader().setVisible(False)
        self.summary = QLabel("Preview shows how many files go to each folder; nothing moves until you press "
                              "Organize.")
        self.summary.setWordWrap(True)
        self.skipped = QPlainTextEdit()
        self.skipped.setReadOnly(True)
        self.skipped.setMaximumHeight(110)
        self.skipped.setPlaceholderText("Files that will be (or were) skipped, and why")
        self.progress = QProgressBar()
        self.progress.setVisible(False)

        self.buttons = QDialogButtonBox()
        self.organize_button = self.buttons.addButton("Organize", QDialogButtonBox.ButtonRole.AcceptRole)
        self.organize_button.setEnabled(False)
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setEnabled(False)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addWidget(self.preview_button)
        layout.addWidget(self.counts, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.skipped)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

    def set_counts_model(self, model) -> None:
        self.counts.setModel(model)
        header = self.counts.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)

    def options(self) -> tuple[str, bool, float]:
        """(destination, move, minimum score 0-1)."""
        return self.dest_edit.text().strip(), self.move_radio.isChecked(), self.min_score.value() / 100

    def set_busy(self, busy: bool) -> None:
        for widget in (self.dest_edit, self.browse_button, self.copy_radio, self.move_radio, self.min_score,
                       self.preview_button):
            widget.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.organize_button.setEnabled(False)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} / {total:,} files")

    def show_skipped(self, lines: list[str]) -> None:
        self.skipped.setPlainText("\n".join(lines))


class KeywordsView(QDialog):
    def __init__(self, parent: QWidget | None = None, images: int = 0):
        super().__init__(parent)
        self.setWindowTitle("Write keywords")
        self.resize(480, 320)
        intro = QLabel(f"Writes each classified image's label as a keyword into an XMP sidecar beside it "
                       f"(photo.jpg.xmp), which Lightroom, darktable and digiKam read: {images:,} image(s). "
                       "An existing sidecar keeps its other fields and keywords.")
        intro.setWordWrap(True)
        self.top5_check = QCheckBox("Also the top-5 labels scoring at least")
        self.top5_score = _percent_box(0.1)
        self.top5_score.setEnabled(False)
        self.top5_check.toggled.connect(self.top5_score.setEnabled)
        top5_row = QHBoxLayout()
        top5_row.addWidget(self.top5_check)
        top5_row.addWidget(self.top5_score)
        top5_row.addStretch(1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.failures = QPlainTextEdit()
        self.failures.setReadOnly(True)
        self.failures.setPlaceholderText("Images whose sidecar could not be written, and why")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox()
        self.write_button = self.buttons.addButton("Write", QDialogButtonBox.ButtonRole.AcceptRole)
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setEnabled(False)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top5_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.failures, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

    def top5_at_least(self) -> float | None:
        return self.top5_score.value() / 100 if self.top5_check.isChecked() else None

    def set_busy(self, busy: bool) -> None:
        self.write_button.setEnabled(not busy)
        self.top5_check.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.progress.setVisible(busy)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
