"""Dropping a folder (a real QDropEvent with file URLs, sent to the window) submits exactly its images."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.messages import Request
from shared.sqs import SQSService


def _drop(widget, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refuses the drag"
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def test_dropping_a_folder_submits_exactly_its_images(qtbot, make_window, make_images, moto_server, own_queue,
                                                     tmp_path):
    # A queue of its own, no workers: what the drop enqueued stays there to be counted.
    cfg = own_queue("drop-test")
    folder = tmp_path / "photos"
    make_images(folder, ["cat.jpg", "sub/dog.png", "sub/deeper/bird.gif"])
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    make_images(tmp_path, ["outside.jpg"])  # beside the folder, not in it

    settings = DesktopSettings(target=AWS, endpoint_url=moto_server.endpoint, request_queue=cfg.request_queue,
                               dead_letter_queue=cfg.dead_letter_queue, scaler=EXTERNAL)
    view, controller = make_window(settings, cfg=cfg)
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=20_000)

    with qtbot.waitSignal(controller.jobs.job_finished, timeout=60_000):
        _drop(view, [folder])

    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    names = []
    for _ in range(10):
        messages = sqs.receive(url, wait=0, visibility=60)
        if not messages:
            break
        names += [Request.from_json(m.body).name for m in messages]
    assert sorted(names) == ["cat.jpg", "sub/deeper/bird.gif", "sub/dog.png"]
    assert [s.name for s in controller.skipped.rows()] == ["notes.txt"]
    assert "not an image" in controller.skipped.rows()[0].reason
    # No worker answered: every image shows in the table, with the reason it has no label.
    assert sorted(r.name for r in controller.results.rows()) == sorted(names)
