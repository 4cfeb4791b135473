"""The settings dialog: "Test connection" runs off the GUI thread and says what it reached, or why not;
OK saves the settings and reconnects to the new target."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cloud.local.server import free_port
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.provision import provision


def test_test_connection_and_ok_reconnect(qtbot, make_window, moto_server, base_cfg, tmp_path):
    provision(base_cfg.replace(endpoint_url=moto_server.endpoint))
    closed = f"http://127.0.0.1:{free_port()}"
    view, controller = make_window(DesktopSettings(target=AWS, endpoint_url=closed, scaler=EXTERNAL))
    qtbot.waitUntil(view.banner.isVisible, timeout=15_000)

    dialog = controller.settings.open_dialog()
    assert dialog.aws_radio.isChecked() and dialog.endpoint_edit.text() == closed
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cannot reach" in dialog.test_result.text(), timeout=15_000)

    dialog.endpoint_edit.setText(moto_server.endpoint)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("Reached"), timeout=15_000)

    with qtbot.waitSignal(controller.connection.connected, timeout=20_000):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert not view.banner.isVisible()
    assert controller.connection.cfg.endpoint_url == moto_server.endpoint
    qtbot.waitUntil(lambda: (tmp_path / "settings.json").is_file(), timeout=5_000)
    assert json.loads((tmp_path / "settings.json").read_text())["endpoint_url"] == moto_server.endpoint
