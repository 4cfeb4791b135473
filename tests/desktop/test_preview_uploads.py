"""The "Upload previews" toggle: it changes the setting (saved, no reconnect), the next job sends
previews, and the window says how many bytes that saved."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from desktop.settings import AWS, EXTERNAL, ORIGINAL, PREVIEW, DesktopSettings, load_settings
from shared.config import Config, ConfigError
from shared.messages import Request
from shared.s3 import S3Service
from shared.sqs import SQSService
from tests.shared.test_job_preview import camera_jpeg


def test_the_preview_toggle_changes_the_setting_and_the_next_job_saves_bytes(qtbot, make_window, moto_server,
                                                                               own_queue, tmp_path):
    cfg = own_queue("preview-toggle")
    settings = DesktopSettings(target=AWS, endpoint_url=moto_server.endpoint, request_queue=cfg.request_queue,
                               dead_letter_queue=cfg.dead_letter_queue, scaler=EXTERNAL)
    view, controller = make_window(settings, cfg=cfg)
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=20_000)
    reconnects = []
    controller.connection.disconnected.connect(lambda: reconnects.append(True))

    dialog = controller.settings.open_dialog()
    assert not dialog.preview_check.isChecked()
    qtbot.mouseClick(dialog.preview_check, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert controller.settings.settings.upload == PREVIEW
    assert controller.connection.cfg is not None and not reconnects  # how files are sent: no reconnect
    qtbot.waitUntil(lambda: (tmp_path / "settings.json").is_file(), timeout=5_000)
    assert json.loads((tmp_path / "settings.json").read_text())["upload"] == PREVIEW

    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(3):
        camera_jpeg(folder / f"photo_{i}.jpg", seed=i)
    originals = sum(p.stat().st_size for p in folder.iterdir())
    assert not view.upload.saved_label.isVisible()
    with qtbot.waitSignal(controller.jobs.job_finished, timeout=60_000):  # no workers: results time out
        controller.jobs.submit_paths([str(folder)])
        qtbot.waitUntil(view.upload.saved_label.isVisible, timeout=30_000)
    assert view.upload.saved_label.text().startswith("Saved ")

    sqs, s3 = SQSService(cfg), S3Service(cfg)
    url = sqs.url(cfg.request_queue)
    sent: dict[str, int] = {}
    while messages := sqs.receive(url, wait=0, visibility=60):
        for message in messages:
            request = Request.from_json(message.body)
            sent[request.name] = len(s3.get_bytes(request.bucket, request.key, byte_range=request.byte_range))
    assert sorted(sent) == ["photo_0.jpg", "photo_1.jpg", "photo_2.jpg"]
    assert sum(sent.values()) < originals / 10


def test_the_upload_setting_reaches_the_job_config_and_is_validated(tmp_path):
    base = Config()
    assert DesktopSettings.from_config(base.replace(upload=PREVIEW)).upload == PREVIEW
    assert DesktopSettings(upload=PREVIEW).to_config(base).upload == PREVIEW
    assert DesktopSettings(upload=PREVIEW).for_job(base).upload == PREVIEW
    assert not DesktopSettings().needs_reconnect(DesktopSettings(upload=PREVIEW))
    assert DesktopSettings(upload=ORIGINAL).needs_reconnect(DesktopSettings(region="eu-west-1", upload=PREVIEW))
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"upload": "thumbnails"}))
    with pytest.raises(ConfigError, match="upload"):
        load_settings(path, DesktopSettings())
