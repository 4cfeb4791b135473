"""The results table as a user meets it: double-click opens the image, the filter box narrows the rows,
failed images show their error, a header click sorts."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from cloud.local.server import free_port
from desktop.models.results_model import CONFIDENCE, ERROR, FILE
from desktop.rows import DONE, FAILED, TableRow
from desktop.settings import AWS, EXTERNAL, DesktopSettings


class _Opened(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_double_click_opens_the_image_and_the_filter_narrows(qtbot, make_window, make_images, tmp_path):
    [cat, dog] = make_images(tmp_path, ["cat.jpg", "dog.png"])
    offline = DesktopSettings(target=AWS, endpoint_url=f"http://127.0.0.1:{free_port()}", scaler=EXTERNAL)
    view, controller = make_window(offline)
    controller.results.append([
        TableRow(name="cat.jpg", path=str(cat), label="tabby cat", score=0.08, status=DONE, job_id="j"),
        TableRow(name="dog.png", path=str(dog), label="beagle", score=0.3, status=DONE, job_id="j"),
        TableRow(name="broken.jpg", error="not a valid image: truncated", status=FAILED, job_id="j"),
    ])
    table = view.results.table

    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        row = next(r for r in range(controller.proxy.rowCount()) if controller.proxy.index(r, FILE).data() == "dog.png")
        rect = table.visualRect(controller.proxy.index(row, FILE))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # press, then
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # the second click
        qtbot.waitUntil(lambda: len(opened.urls) == 1, timeout=5_000)
        assert opened.urls[0].toLocalFile() == str(dog)
    finally:
        QDesktopServices.unsetUrlHandler("file")

    failed = [r for r in range(controller.proxy.rowCount()) if controller.proxy.index(r, FILE).data() == "broken.jpg"]
    assert controller.proxy.index(failed[0], ERROR).data() == "not a valid image: truncated"

    qtbot.keyClicks(view.results.filter_edit, "beag")
    assert controller.proxy.rowCount() == 1 and controller.proxy.index(0, FILE).data() == "dog.png"
    assert view.results.count_label.text() == "1 of 3"
    view.results.filter_edit.clear()

    header = table.horizontalHeader()
    x = header.sectionViewportPosition(CONFIDENCE) + header.sectionSize(CONFIDENCE) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    order = [controller.proxy.index(r, FILE).data() for r in range(3)]
    # By value (8 % < 30 %), not by text ("8.0 %" > "30.0 %"); the failed image has no confidence.
    assert order in (["broken.jpg", "cat.jpg", "dog.png"], ["dog.png", "cat.jpg", "broken.jpg"])
