"""The settings dialog: embedded local cloud or AWS (profile, region, endpoint, names), and who scales."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.settings import AWS, EMBEDDED, EXTERNAL, IN_APP, ORIGINAL, PREVIEW, DesktopSettings


class SettingsView(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("imgrec settings")
        self.setMinimumWidth(520)

        # --- target -----------------------------------------------------------------------------
        self.embedded_radio = QRadioButton("Embedded local cloud (starts in this app; default)")
        self.aws_radio = QRadioButton("AWS, or an S3/SQS endpoint such as a running `imgrec up`")
        self.target_group = QButtonGroup(self)
        self.target_group.addButton(self.embedded_radio)
        self.target_group.addButton(self.aws_radio)

        self.profile_edit = QLineEdit()
        self.profile_edit.setPlaceholderText("default credential chain")
        self.region_edit = QLineEdit()
        self.endpoint_edit = QLineEdit()
        self.endpoint_edit.setPlaceholderText("empty: AWS itself; e.g. http://127.0.0.1:5000")
        self.input_bucket_edit = QLineEdit()
        self.output_bucket_edit = QLineEdit()
        self.request_queue_edit = QLineEdit()
        self.dead_letter_queue_edit = QLineEdit()

        self.aws_box = QGroupBox("AWS")
        aws_form = QFormLayout(self.aws_box)
        aws_form.addRow("Profile", self.profile_edit)
        aws_form.addRow("Region", self.region_edit)
        aws_form.addRow("Endpoint", self.endpoint_edit)

        names_box = QGroupBox("Buckets and queues")
        names_form = QFormLayout(names_box)
        names_form.addRow("Input bucket", self.input_bucket_edit)
        names_form.addRow("Output bucket", self.output_bucket_edit)
        names_form.addRow("Request queue", self.request_queue_edit)
        names_form.addRow("Dead-letter queue", self.dead_letter_queue_edit)

        self.test_button = QPushButton("Test connection")
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)

        # --- scaler -----------------------------------------------------------------------------
        self.in_app_radio = QRadioButton("Run the autoscaler in this app")
        self.external_radio = QRadioButton("External scaler (this app only observes)")
        self.scaler_group = QButtonGroup(self)
        self.scaler_group.addButton(self.in_app_radio)
        self.scaler_group.addButton(self.external_radio)
        self.max_workers_spin = QSpinBox()
        self.max_workers_spin.setRange(0, 100)
        self.max_workers_spin.setSpecialValueText("fleet default")
        scaler_box = QGroupBox("Autoscaler")
        scaler_layout = QFormLayout(scaler_box)
        scaler_layout.addRow(self.in_app_radio)
        scaler_layout.addRow(self.external_radio)
        scaler_layout.addRow("Maximum workers", self.max_workers_spin)

        # --- uploads ----------------------------------------------------------------------------
        self.preview_check = QCheckBox("Upload previews instead of originals")
        preview_note = QLabel("A JPEG twice the model's input (448 pixels on the long side): a 12 MP photo "
                              "sends about 40 KB instead of 3 MB. The originals stay on this computer and "
                              "results keep their names. Takes effect with the next job.")
        preview_note.setWordWrap(True)
        preview_note.setStyleSheet("color: #555555;")
        uploads_box = QGroupBox("Uploads")
        uploads_layout = QVBoxLayout(uploads_box)
        uploads_layout.addWidget(self.preview_check)
        uploads_layout.addWidget(preview_note)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.embedded_radio)
        layout.addWidget(self.aws_radio)
        layout.addWidget(self.aws_box)
        layout.addWidget(names_box)
        layout.addLayout(test_row)
        layout.addWidget(scaler_box)
        layout.addWidget(uploads_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.embedded_radio.toggled.connect(self._show_target)

    def _show_target(self) -> None:  # layout only: the AWS fields matter only for the AWS target
        self.aws_box.setEnabled(self.aws_radio.isChecked())

    def set_settings(self, s: DesktopSettings) -> None:
        (self.embedded_radio if s.target == EMBEDDED else self.aws_radio).setChecked(True)
        self.profile_edit.setText(s.profile)
        self.region_edit.setText(s.region)
        self.endpoint_edit.setText(s.endpoint_url)
        self.input_bucket_edit.setText(s.input_bucket)
        self.output_bucket_edit.setText(s.output_bucket)
        self.request_queue_edit.setText(s.request_queue)
        self.dead_letter_queue_edit.setText(s.dead_letter_queue)
        (self.in_app_radio if s.scaler == IN_APP else self.external_radio).setChecked(True)
        self.max_workers_spin.setValue(s.max_workers)
        self.preview_check.setChecked(s.upload == PREVIEW)
        self._show_target()

    def settings(self) -> DesktopSettings:
        return DesktopSettings(
            target=EMBEDDED if self.embedded_radio.isChecked() else AWS,
            profile=self.profile_edit.text().strip(),
            region=self.region_edit.text().strip(),
            endpoint_url=self.endpoint_edit.text().strip(),
            input_bucket=self.input_bucket_edit.text().strip(),
            output_bucket=self.output_bucket_edit.text().strip(),
            request_queue=self.request_queue_edit.text().strip(),
            dead_letter_queue=self.dead_letter_queue_edit.text().strip(),
            scaler=IN_APP if self.in_app_radio.isChecked() else EXTERNAL,
            max_workers=self.max_workers_spin.value(),
            upload=PREVIEW if self.preview_check.isChecked() else ORIGINAL,
        )

    def set_test_result(self, text: str, ok: bool | None) -> None:
        colour = {True: "#1e7b34", False: "#b3261e", None: "#555555"}[ok]
        self.test_result.setStyleSheet(f"color: {colour};")
        self.test_result.setText(text)

    def set_error(self, text: str) -> None:
        self.error_label.setText(text)
