"""An unreachable endpoint shows a banner with Retry (never a frozen window); Retry clears it once it is up."""

from __future__ import annotations

from PySide6.QtCore import Qt

from cloud.local.server import MotoServer, free_port
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.provision import provision


def test_banner_appears_when_the_endpoint_is_down_and_clears_on_retry(qtbot, make_window, base_cfg):
    port = free_port()  # nothing listens here yet
    endpoint = f"http://127.0.0.1:{port}"
    settings = DesktopSettings(target=AWS, endpoint_url=endpoint, scaler=EXTERNAL)
    view, controller = make_window(settings)

    qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=15_000)
    assert endpoint in view.banner.message.text()
    assert view.banner.retry_button.isEnabled()
    assert controller.connection.cfg is None

    with MotoServer(port=port) as server:
        provision(base_cfg.replace(endpoint_url=server.endpoint))
        qtbot.mouseClick(view.banner.retry_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not view.banner.isVisible(), timeout=30_000)
        assert controller.connection.cfg is not None
        assert controller.connection.cfg.endpoint_url == endpoint
        # Polling runs and shows the queue.
        qtbot.waitUntil(lambda: view.status.tiles["visible"].value.text() == "0", timeout=10_000)

        # The endpoint goes down while connected: the banner comes back, the window keeps answering.
        server.stop()
        qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=15_000)
        assert "Lost connection" in view.banner.message.text()

