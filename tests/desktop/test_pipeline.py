"""Real images through a real embedded cloud (moto server + a worker process + the real model):
the table gets the labels `imgrec predict` gives, export writes them, and history survives a restart."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.models.results_model import THUMB
from desktop.settings import AWS, EXTERNAL, DesktopSettings
from shared import results_csv
from shared.config import Config

IMAGES = [f"test_{i}.JPEG" for i in (0, 2, 3, 5, 7, 11)]
JOB_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def images(workload_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in IMAGES:
        shutil.copyfile(workload_dir / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def predicted(images, tmp_path_factory) -> dict[str, str]:
    """`imgrec predict` in its own process (this test process never imports torch): image -> label."""
    out = tmp_path_factory.mktemp("predict") / "predict.csv"
    script = Path(sys.executable).with_name("imgrec")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cloud.cli"]
    subprocess.run(command + ["predict", str(images), "--out", str(out)], check=True, timeout=300,
                   capture_output=True)
    return {row["image"]: row["label"] for row in results_csv.read_csv(out)}


@pytest.fixture(scope="module")
def cloud(workload_dir, tmp_path_factory):
    from cloud.local.embedded import EmbeddedCloud

    with EmbeddedCloud(Config(), workers=1, log_dir=tmp_path_factory.mktemp("worker-logs")) as cloud:
        yield cloud


def _settings(cloud) -> DesktopSettings:
    return DesktopSettings(target=AWS, endpoint_url=cloud.cfg.endpoint_url, scaler=EXTERNAL)


def _labels(controller) -> dict[str, str]:
    return {row.name: row.label for row in controller.results.rows()}


def test_a_folder_of_real_images_gets_the_labels_of_imgrec_predict(qtbot, make_window, cloud, images, predicted,
                                                                   tmp_path):
    view, controller = make_window(_settings(cloud))
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=30_000)

    with qtbot.waitSignal(controller.jobs.job_finished, timeout=JOB_TIMEOUT_MS) as finished:
        controller.jobs.submit_paths([str(images)])
    assert finished.args[0].status == "finished"
    assert _labels(controller) == predicted
    rows = controller.results.rows()
    assert all(r.ok and r.worker and r.score is not None and len(r.top5) == 5 for r in rows)
    assert view.status.tiles["done"].value.text() == str(len(IMAGES))
    assert view.status.tiles["remaining"].value.text() == "0"
    # Thumbnails are made off the GUI thread and show up in the table.
    first = controller.proxy.index(0, THUMB)
    first.data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: first.data(Qt.ItemDataRole.DecorationRole) is not None, timeout=10_000)

    # Export writes the `classify` columns.
    out = tmp_path / "export.csv"
    with qtbot.waitSignal(controller.export.exported, timeout=10_000):
        controller.export.export_to(str(out))
    assert out.read_text().splitlines()[0].split(",")[:5] == list(results_csv.COLUMNS)
    exported = results_csv.read_csv(out)
    assert {r["image"]: r["label"] for r in exported} == predicted
    assert all(r["error"] == "" and r["top5"].count("|") == 4 for r in exported)


def test_history_survives_a_restart_and_missing_results_are_recollected(qtbot, make_window, cloud, images,
                                                                        predicted, tmp_path):
    history = tmp_path / "history.sqlite3"
    view, controller = make_window(_settings(cloud), history=history)
    qtbot.waitUntil(lambda: controller.connection.cfg is not None, timeout=30_000)
    with qtbot.waitSignal(controller.jobs.job_finished, timeout=JOB_TIMEOUT_MS) as finished:
        controller.jobs.submit_paths([str(images)])
    job_id = finished.args[0].job_id
    view.close()  # the app quits

    # Two results were never stored locally (say the app died before writing them).
    with sqlite3.connect(history) as db:
        db.execute("DELETE FROM rows WHERE job_id = ? AND name IN (?, ?)", (job_id, IMAGES[0], IMAGES[1]))

    view2, controller2 = make_window(_settings(cloud), history=history)  # a new start, same database
    jobs_model = controller2.jobs_model
    qtbot.waitUntil(lambda: jobs_model.rowCount() == 1, timeout=10_000)
    summary = jobs_model.job_at(0)
    assert (summary.record.job_id, summary.record.total, summary.done, summary.missing) == \
        (job_id, len(IMAGES), len(IMAGES) - 2, 2)

    with qtbot.waitSignal(controller2.history_controller.recollected, timeout=60_000) as recollected:
        controller2.history_controller.open_job(job_id)
    assert len(recollected.args[0].rows) == 2 and recollected.args[0].still_missing == 0
    assert _labels(controller2) == predicted
    qtbot.waitUntil(lambda: jobs_model.rowCount() == 1 and jobs_model.job_at(0).missing == 0, timeout=10_000)
