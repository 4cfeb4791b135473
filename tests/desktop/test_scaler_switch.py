"""The scaler switch: "Run the autoscaler in this app" runs cloud.scaler's loop and logs its decisions;
"External scaler" stops it and only observes."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.settings import AWS, EXTERNAL, IN_APP, DesktopSettings
from shared.provision import provision


def test_switching_between_the_in_app_and_an_external_scaler(qtbot, make_window, moto_server, base_cfg):
    names = {"request_queue": "switch-test-requests", "dead_letter_queue": "switch-test-dlq"}
    provision(base_cfg.replace(endpoint_url=moto_server.endpoint, **names))
    settings = DesktopSettings(target=AWS, endpoint_url=moto_server.endpoint, scaler=IN_APP, **names)
    view, controller = make_window(settings)
    connection = controller.connection

    qtbot.waitUntil(lambda: "no work" in view.scaler.log.toPlainText(), timeout=20_000)
    assert view.scaler.in_app_radio.isChecked()
    scaler = connection.session.scaler
    assert scaler is not None and scaler.running
    assert "in this app" in view.status.scaler_label.text()
    qtbot.waitUntil(lambda: view.status.tiles["running"].value.text() == "0", timeout=10_000)

    view.tabs.setCurrentWidget(view.scaler)
    with qtbot.waitSignal(connection.connected, timeout=20_000):
        qtbot.mouseClick(view.scaler.external_radio, Qt.MouseButton.LeftButton)
    assert controller.settings.settings.scaler == EXTERNAL
    assert connection.session.scaler is None and not scaler.running  # its loop has ended
    assert "external" in view.status.scaler_label.text()
    # The app still observes the queue.
    with qtbot.waitSignal(connection.sampled, timeout=10_000):
        pass
