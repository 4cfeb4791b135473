"""The packaged desktop app (`make package` -> dist/imgrec-desktop/), run as a user would: with no Python
environment at all, its scripted demo classifies the 100-image workload on its own embedded cloud with its
own workers (the bundle's executable re-running itself as the moto server, the workers and the job helper).

Building the bundle takes minutes, so these tests never build it: they skip until `make package` has run.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "imgrec-desktop"
EXE = BUNDLE / "imgrec-desktop"
MAX_BUNDLE_BYTES = 350 * 1000**2
DEMO_TIMEOUT_SECONDS = 300

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not EXE.is_file(), reason=f"no bundle at {BUNDLE}: run `make package` first")]


def _bare_env(home: Path) -> dict[str, str]:
    """No virtual environment, no PYTHONPATH, no settings or model cache of this machine's user."""
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}


def test_the_bundle_says_its_version_and_carries_no_torch(tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([str(EXE), "--version"], env=_bare_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, f"imgrec-desktop {version}"), done.stderr
    assert not list(BUNDLE.rglob("torch")) and list(BUNDLE.rglob("model.onnx"))
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    assert size < MAX_BUNDLE_BYTES, f"the bundle is {size / 1e6:.0f} MB"


def test_the_bundle_runs_its_demo_on_its_own_embedded_cloud(workload_dir, tmp_path):
    png = tmp_path / "out.png"
    done = subprocess.run([str(EXE), "--demo", str(workload_dir), "--screenshot", str(png)],
                          env=_bare_env(tmp_path / "home"), cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "100 results" in done.stderr and "(100 classified, 0 failed)" in done.stderr, done.stderr[-3000:]
    # The workers fetched the model the app published from the bundle: none was cached for this user.
    assert "fetched model bundle efficientnet-lite0" in done.stderr, done.stderr[-3000:]
    with Image.open(png) as shot:
        assert shot.width >= 1000 and shot.height >= 650
