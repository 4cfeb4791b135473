"""`imgrec classify` as a user runs it: a subprocess, no AWS settings, an embedded cloud for the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.results_csv import COLUMNS, read_csv

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "samples"


def _user_env() -> dict[str, str]:
    """This environment without AWS credentials or imgrec settings: nothing says where AWS is."""
    keep_files = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")  # empty files from the root conftest
    return {k: v for k, v in os.environ.items()
            if not (k.startswith(("AWS_", "IMGREC_")) and k not in keep_files)}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="samples/ is not in this checkout")
def test_classify_without_a_target_starts_a_local_cloud_and_writes_the_csv(tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.md"))
    (folder / "README.txt").write_text("not a photo\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    images = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    out = tmp_path / "results.csv"
    done = subprocess.run(
        [sys.executable, "-m", "cloud.cli", "classify", str(folder), "--out", str(out), "--workers", "1",
         "--no-progress"],
        cwd=REPO_ROOT, env=_user_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded local cloud" in done.stderr
    assert f"{len(images)} classified, 0 failed, 1 skipped (not images)" in done.stderr
    assert out.read_text().splitlines()[0].split(",")[:5] == list(COLUMNS)
    rows = {row["image"]: row for row in read_csv(out)}
    assert sorted(rows) == sorted(images + ["README.txt"])
    assert all(rows[name]["label"] and not rows[name]["error"] for name in images)
    assert rows["README.txt"]["error"] == "skipped: not an image (text)"
