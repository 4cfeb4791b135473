"""From labels to an organized shoot, in the app, with real images through a real embedded cloud (moto
server, a worker process, the real model): the gallery groups them, Organize previews the folders before
anything moves, moves them, Undo puts every file back byte for byte; Write keywords leaves sidecars that
exiv2 reads; Retry failed sends a fixed image again; the job's cost shows, "local: free"."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pyexiv2
import pytest
from PySide6.QtCore import Qt

from desktop.gallery import FAILED, UNCERTAIN
from desktop.rows import DONE
from desktop.rows import FAILED as FAILED_ROW
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared.config import Config
from shared.organize import MANIFEST, safe_folder_name

JOB_TIMEOUT_MS = 240_000
IMAGES = [f"test_{i}.JPEG" for i in (1, 4, 6, 8, 9, 10, 12, 13)]
CORRUPT = "zzz-corrupt.jpg"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    from cloud.local.embedded import EmbeddedCloud

    with EmbeddedCloud(Config(), workers=1, log_dir=tmp_path_factory.mktemp("worker-logs")) as cloud:
        yield cloud


def _shoot(workload_dir: Path, folder: Path, names=IMAGES, corrupt: bool = True) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copyfile(workload_dir / name, folder / name)
    if corrupt:  # a JPEG header, then zeros: sent, and the worker says it is not an image
        jpeg = (workload_dir / names[0]).read_bytes()
        (folder / CORRUPT).write_bytes(jpeg[:200] + bytes(len(jpeg) - 200))
    return folder


def _classified(qtbot, make_window, cloud, folder: Path):
    view, controller = make_window(DesktopSettings(target=AWS, endpoint_url=cloud.cfg.endpoint_url, scaler=EXTERNAL))
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=30_000)
    with qtbot.waitSignal(controller.jobs.job_finished, timeout=JOB_TIMEOUT_MS):
        controller.jobs.submit_paths([str(folder)])
    return view, controller


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_organize_previews_moves_and_undo_puts_every_file_back(qtbot, make_window, cloud, workload_dir, tmp_path):
    shoot = _shoot(workload_dir, tmp_path / "shoot")
    before = _hashes(shoot)
    dest = tmp_path / "sorted"
    view, controller = _classified(qtbot, make_window, cloud, shoot)
    rows = controller.results.rows()
    assert len(rows) == len(IMAGES) + 1 and sum(r.status == FAILED_ROW for r in rows) == 1

    # What it cost, in the job summary and the history.
    qtbot.waitUntil(lambda: view.status.tiles["cost"].value.text() == "local: free", timeout=30_000)
    jobs = controller.jobs_model
    cost_column = jobs.HEADERS.index("Cost")
    qtbot.waitUntil(lambda: jobs.rowCount() == 1 and jobs.index(0, cost_column).data() == "local: free",
                    timeout=10_000)

    # The gallery groups every result once: labels, Uncertain under its threshold, Failed.
    gallery = controller.gallery
    gallery.show_counts()
    threshold = gallery.threshold
    counts = dict(gallery.model.groups.counts())
    assert sum(counts.values()) == len(rows) and counts[FAILED] == 1
    assert counts.get(UNCERTAIN, 0) == sum(1 for r in rows if r.ok and r.score < threshold)

    # Organize: move, minimum score 30 %. The preview counts the folders and moves nothing.
    dialog = controller.organize.open_dialog()
    dialog.dest_edit.setText(str(dest))
    dialog.move_radio.setChecked(True)
    dialog.min_score.setValue(30)
    with qtbot.waitSignal(controller.organize.planned, timeout=30_000):
        qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    expected = Counter("_failed" if not r.ok else "_uncertain" if r.score < 0.3 else safe_folder_name(r.label)
                       for r in rows)
    assert dict(controller.organize.counts.counts()) == dict(expected)
    assert _hashes(shoot) == before and not dest.exists()

    with qtbot.waitSignal(controller.organize.organized, timeout=60_000) as organized:
        qtbot.mouseClick(dialog.organize_button, Qt.MouseButton.LeftButton)
    assert len(organized.args[0].placed) == len(rows) and not organized.args[0].skipped
    placed = Counter(p.parent.name for p in dest.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert placed == expected and not any(p.is_file() for p in shoot.rglob("*"))
    # The table follows the files to their new place.
    assert all(Path(r.path).parent.parent == dest and Path(r.path).is_file() for r in controller.results.rows())

    with qtbot.waitSignal(controller.organize.undone, timeout=60_000) as undone:
        controller.organize.undo(str(dest))
    assert undone.args[0].restored == len(rows) and not undone.args[0].problems
    assert _hashes(shoot) == before
    assert not any(p.is_file() for p in dest.rglob("*"))
    assert all(Path(r.path).parent == shoot for r in controller.results.rows())


def test_keywords_go_into_sidecars_that_exiv2_reads(qtbot, make_window, cloud, workload_dir, tmp_path):
    shoot = _shoot(workload_dir, tmp_path / "shoot", IMAGES[:3], corrupt=False)
    view, controller = _classified(qtbot, make_window, cloud, shoot)
    dialog = controller.organize.open_keywords()
    dialog.top5_check.setChecked(True)
    dialog.top5_score.setValue(5)
    with qtbot.waitSignal(controller.organize.keywords_written, timeout=30_000) as written:
        qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    assert written.args[0].written == 3 and not written.args[0].failed
    for row in controller.results.rows():
        image = pyexiv2.Image(row.path + ".xmp")
        try:
            keywords = image.read_xmp()["Xmp.dc.subject"]
        finally:
            image.close()
        wanted = [row.label] + [label for label, score in row.top5 if score >= 0.05 and label != row.label]
        assert keywords == wanted


def test_retry_failed_sends_a_fixed_image_again(qtbot, make_window, cloud, workload_dir, tmp_path):
    shoot = _shoot(workload_dir, tmp_path / "shoot", IMAGES[:2])
    view, controller = _classified(qtbot, make_window, cloud, shoot)
    assert view.status.tiles["failed"].value.text() == "1"
    shutil.copyfile(workload_dir / IMAGES[2], shoot / CORRUPT)  # the user fixes the file

    with qtbot.waitSignal(controller.jobs.job_finished, timeout=JOB_TIMEOUT_MS) as finished:
        view.activateWindow()
        qtbot.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Retry failed
    assert finished.args[0].results == 1
    rows = {r.name: r for r in controller.results.rows()}
    assert len(rows) == 3 and all(r.status == DONE for r in rows.values())
    assert rows[CORRUPT].label and rows[CORRUPT].job_id == finished.args[0].job_id
    assert view.status.tiles["failed"].value.text() == "0"
    assert view.status.tiles["done"].value.text() == "3"
