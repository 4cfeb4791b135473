"""What users expect of a desktop window: its size, splitters and column widths come back after a restart
(kept beside the test's own settings file, never the user's), keyboard shortcuts for add folder, export
and organize, and a notification when a long job ends while they are in another window."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget

from cloud.local.server import free_port
from desktop.controllers.jobs_controller import JobsController
from desktop.history import HistoryStore, JobRecord
from desktop.job_runner import JobOutcome
from desktop.models.results_model import FILE
from desktop.notify import ALERT, TRAY
from desktop.rows import DONE, TableRow
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from desktop.window_state import FILE_NAME
from shared.job_cost import JobCost


def _offline() -> DesktopSettings:
    return DesktopSettings(target=AWS, endpoint_url=f"http://127.0.0.1:{free_port()}", scaler=EXTERNAL)


def test_size_splitters_and_column_widths_come_back_after_a_restart(qtbot, make_window, tmp_path):
    settings = _offline()
    view, controller = make_window(settings)
    view.resize(1000, 700)  # unlike the default (1280 x 820); offscreen, the screen is 800 x 800
    view.splitter.setSizes([150, 500])
    view.results.splitter.setSizes([300, 700])
    view.results.table.setColumnWidth(FILE, 321)
    qtbot.waitUntil(lambda: view.size().height() == 700)
    wanted = (view.splitter.sizes(), view.results.splitter.sizes())
    view.close()
    assert (tmp_path / FILE_NAME).is_file()  # beside the test's settings.json, not in the user's config

    view2, _controller2 = make_window(settings)
    qtbot.waitUntil(lambda: (view2.size().width(), view2.size().height()) == (1000, 700), timeout=5_000)
    assert (view2.splitter.sizes(), view2.results.splitter.sizes()) == wanted
    assert view2.results.table.columnWidth(FILE) == 321


def _press(qtbot, view, key, modifiers) -> None:
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=5_000)
    qtbot.keyClick(view, key, modifiers)


def test_shortcuts_add_a_folder_export_and_organize(qtbot, make_window, make_images, tmp_path, monkeypatch):
    [photo] = make_images(tmp_path / "shoot", ["cat.jpg"])
    view, controller = make_window(_offline())
    submitted = []
    monkeypatch.setattr(controller.jobs, "submit_paths", submitted.append)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "shoot"))
    _press(qtbot, view, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert submitted == [[str(tmp_path / "shoot")]]

    controller.results.append([TableRow(name="cat.jpg", path=str(photo), label="tabby", score=0.9, status=DONE,
                                        job_id="j")])
    out = tmp_path / "results.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    with qtbot.waitSignal(controller.export.exported, timeout=10_000):
        _press(qtbot, view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert out.read_text().splitlines()[1].startswith("cat.jpg,tabby,")

    _press(qtbot, view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert controller.organize.dialog is not None and controller.organize.dialog.isVisible()
    controller.organize.dialog.reject()
    _press(qtbot, view, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert controller.organize.keywords_dialog is not None and controller.organize.keywords_dialog.isVisible()
    controller.organize.keywords_dialog.reject()


def test_a_long_job_that_ends_in_the_background_is_announced(qtbot, make_window):
    view, controller = make_window(_offline())
    notifier = controller.notifier
    long_job = JobOutcome("j1", "finished", 500, seconds=notifier.long_job_seconds + 1)
    jobs: JobsController = controller.jobs

    # In front: the window itself shows it; nothing else is said.
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=5_000)
    with qtbot.assertNotEmitted(notifier.notified):
        jobs.job_finished.emit(long_job)

    # Another window in front: a tray message where there is a tray, else the taskbar entry is alerted.
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not view.isActiveWindow(), timeout=5_000)
    with qtbot.assertNotEmitted(notifier.notified):
        jobs.job_finished.emit(JobOutcome("j0", "finished", 3, seconds=2.0))  # a short job: no word
    with qtbot.waitSignal(notifier.notified, timeout=5_000) as said:
        jobs.job_finished.emit(long_job)
    assert said.args[0] in (TRAY, ALERT) and "500 images classified" in said.args[1]


def test_the_cost_of_a_job_shows_in_the_history_and_the_scaler_ticks_are_metered(qtbot, make_window, tmp_path):
    history = HistoryStore(tmp_path / "history.sqlite3")
    history.add_job(JobRecord(job_id="old", title="photos", target="AWS us-east-1", output_bucket="b"))
    history.set_cost("old", JobCost(local=True))
    view, controller = make_window(_offline(), history=tmp_path / "history.sqlite3")
    model = controller.jobs_model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=10_000)
    cost_column = model.HEADERS.index("Cost")
    assert model.index(0, cost_column).data() == "local: free"

    # The in-app scaler's ticks reach the meter: 2 workers for 10 s, then 1 for 5 s.
    for ts, running, booting in ((1000.0, 1, 1), (1010.0, 1, 0), (1015.0, 0, 0)):
        controller.connection.bridge.decision.emit(SimpleNamespace(ts=ts, running=running, booting=booting,
                                                                   draining=0, action="hold", desired=running,
                                                                   line=lambda: "tick"))
    qtbot.waitUntil(lambda: controller.costs.meter.seconds(1000, 1015) == 25.0, timeout=5_000)
