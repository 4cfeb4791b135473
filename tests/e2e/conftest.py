"""One embedded cloud for the whole end-to-end session: a real moto server subprocess, two real worker
processes (spawn_worker) with the real model, and the `imgrec predict` labels to compare against."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Config
from shared.results_csv import read_csv
from shared.scan import scan

REPO_ROOT = Path(__file__).resolve().parents[2]

# Short enough that a request held by a killed worker comes back within the test; the workers'
# heartbeat (a third of it) keeps live batches hidden. Short polls keep shutdown quick.
E2E_VISIBILITY_TIMEOUT = 10
E2E_WAIT_TIME = 2


def e2e_cloud(workers: int, log_dir: Path):
    """An EmbeddedCloud (not started yet) with the end-to-end settings above."""
    from cloud.local.embedded import EmbeddedCloud

    base = Config(visibility_timeout=E2E_VISIBILITY_TIMEOUT, wait_time=E2E_WAIT_TIME)
    return EmbeddedCloud(base, workers=workers, log_dir=log_dir)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    """An EmbeddedCloud with two ready workers; stopped (workers, then moto) at the end of the session.
    Tests leave its workers as they found them: one that kills or stops workers uses ``own_cloud``."""
    with e2e_cloud(2, tmp_path_factory.mktemp("worker-logs")) as running:
        yield running


@pytest.fixture
def own_cloud(tmp_path):
    """``own_cloud(workers)``: a started EmbeddedCloud of this test's own, with ready workers; each one
    is stopped (workers, then moto) at the end of the test."""
    started = []

    def start(workers: int = 2):
        running = e2e_cloud(workers, tmp_path / f"workers-{len(started)}")
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def workload_items(workload_dir):
    items = scan([workload_dir]).images
    assert len(items) == 100
    return items


@pytest.fixture(scope="session")
def reference(workload_dir, tmp_path_factory) -> dict[str, dict[str, str]]:
    """`imgrec predict --engine torch` (the reference) on the workload, once: image name -> CSV row."""
    out = tmp_path_factory.mktemp("predict") / "predict.csv"
    done = subprocess.run([sys.executable, "-m", "cloud.cli", "predict", "--engine", "torch", str(workload_dir),
                           "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return {row["image"]: row for row in read_csv(out)}
