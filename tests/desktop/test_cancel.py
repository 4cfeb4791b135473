"""Cancel stops the uploads and leaves nothing half-enqueued: the request queue holds exactly the
images the table says were sent; the others are listed as cancelled."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.job import TIMED_OUT
from shared.messages import Request
from shared.sqs import SQSService

COUNT = 400


def test_cancel_stops_uploading_and_enqueues_nothing_more(qtbot, make_window, make_images, moto_server, own_queue,
                                                          tmp_path):
    cfg = own_queue("cancel-test")
    folder = tmp_path / "many"
    make_images(folder, [f"img_{i:03d}.png" for i in range(COUNT)])
    settings = DesktopSettings(target=AWS, endpoint_url=moto_server.endpoint, request_queue=cfg.request_queue,
                               dead_letter_queue=cfg.dead_letter_queue, scaler=EXTERNAL)
    view, controller = make_window(settings, cfg=cfg)
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=20_000)

    with qtbot.waitSignal(controller.jobs.job_finished, timeout=120_000) as finished:
        controller.jobs.submit_paths([str(folder)])
        qtbot.waitUntil(lambda: view.upload.files_bar.value() > 0, timeout=30_000)
        assert view.upload.cancel_button.isEnabled()
        qtbot.mouseClick(view.upload.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "cancelled"

    rows = controller.results.rows()
    assert len(rows) == COUNT  # every image is accounted for, once
    cancelled = {r.name for r in rows if r.error.startswith("cancelled")}
    sent = {r.name for r in rows if r.error == TIMED_OUT}  # enqueued; no worker ever answered
    assert cancelled and len(cancelled) + len(sent) == COUNT

    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    queued: list[str] = []
    while messages := sqs.receive(url, wait=0, visibility=60):
        queued += [Request.from_json(m.body).name for m in messages]
    assert sorted(queued) == sorted(sent)
