"""The scripted run: `imgrec-desktop --demo FOLDER --screenshot PNG` submits to a fresh embedded cloud
(with the in-app autoscaler), waits for every result, saves a screenshot of at least 1000x650 and exits 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e


def test_demo_run_classifies_the_folder_and_saves_a_screenshot(workload_dir, tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    for name in ("test_2.JPEG", "test_3.JPEG", "test_4.JPEG"):
        shutil.copyfile(workload_dir / name, folder / name)
    (folder / "readme.txt").write_text("not an image")
    png = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "desktop.app", "--demo", str(folder), "--screenshot", str(png),
         "--history", str(tmp_path / "h.sqlite3"), "--settings", str(tmp_path / "settings.json"), "--timeout", "240"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 results" in done.stderr and "3 classified, 0 failed" in done.stderr
    with Image.open(png) as shot:
        assert shot.width >= 1000 and shot.height >= 650
