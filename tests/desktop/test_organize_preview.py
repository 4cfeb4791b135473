"""Organize's preview says what will be skipped and why before anything moves: a file changed since it
was sent, one that is gone, a failed image that never was a file here."""

from __future__ import annotations

from PySide6.QtCore import Qt

from cloud.local.server import free_port
from desktop.rows import DONE, FAILED, TableRow
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.scan import stamp


def test_the_preview_names_what_will_be_skipped_and_copying_leaves_the_rest_in_place(qtbot, make_window,
                                                                                      make_images, tmp_path):
    cat, dog, gone = make_images(tmp_path / "shoot", ["cat.jpg", "dog.png", "gone.jpg"])
    view, controller = make_window(DesktopSettings(target=AWS, endpoint_url=f"http://127.0.0.1:{free_port()}",
                                                   scaler=EXTERNAL))
    controller.results.append([
        TableRow(name="cat.jpg", path=str(cat), label="tabby", score=0.9, status=DONE, job_id="j"),
        TableRow(name="dog.png", path=str(dog), label="beagle", score=0.2, status=DONE, job_id="j"),
        TableRow(name="gone.jpg", path=str(gone), label="tabby", score=0.8, status=DONE, job_id="j"),
        TableRow(name="notes.jpg", error="not an image", status=FAILED, job_id="j"),
    ])
    controller.jobs.stamps.update({str(p): stamp(p) for p in (cat, dog, gone)})  # as they were when sent
    dog.write_bytes(dog.read_bytes() + b"edited")
    gone.unlink()

    dialog = controller.organize.open_dialog()
    dialog.dest_edit.setText(str(tmp_path / "sorted"))
    with qtbot.waitSignal(controller.organize.planned, timeout=10_000) as planned:
        qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    assert controller.organize.counts.counts() == [("tabby", 1)]
    reasons = {path.name: why for path, why in planned.args[0].skipped}
    assert "changed since it was classified" in reasons["dog.png"]
    assert "gone" in reasons["gone.jpg"]
    assert "not on this computer" in reasons["notes.jpg"]
    assert "dog.png" in dialog.skipped.toPlainText() and "3 will be skipped" in dialog.summary.text()

    dialog.min_score.setValue(50)  # options changed: the preview no longer holds
    assert not dialog.organize_button.isEnabled()
    with qtbot.waitSignal(controller.organize.planned, timeout=10_000):
        qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(controller.organize.organized, timeout=10_000):
        qtbot.mouseClick(dialog.organize_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "sorted" / "tabby" / "cat.jpg").read_bytes() == cat.read_bytes()  # a copy
    assert cat.exists() and not (tmp_path / "sorted" / "beagle").exists()
