"""End to end: the embedded cloud with the autoscaler, real worker processes and the real model.

From zero workers, the 100-image workload scales out to more than one worker and back to zero,
with every result back exactly once.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("torch", reason="the worker extra (torch) is not installed")

from cloud.local.embedded import EmbeddedCloud  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.job import JobClient  # noqa: E402
from shared.scan import scan  # noqa: E402

pytestmark = pytest.mark.e2e


def test_from_zero_to_several_workers_and_back_with_every_result_once(workload_dir, tmp_path):
    images = scan([workload_dir]).images
    log_path = tmp_path / "scaler.jsonl"
    # A drain target far below what one worker needs for 100 images, whatever its speed: the fleet must grow.
    cfg = load_config(env={}).replace(target_drain_seconds=0.2)
    with EmbeddedCloud(cfg, workers=0, autoscale=True, log_dir=tmp_path / "workers", scaler_log=log_path) as cloud:
        fleet = cloud.scaler.fleet
        assert fleet.observe().workers == ()  # idle: nothing runs
        with JobClient(cloud.cfg) as client:
            results = list(client.collect(client.submit(images)))
        deadline = time.monotonic() + 60
        while fleet.observe().workers and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fleet.observe().workers == (), "the fleet did not go back to zero"

    assert sorted(r.name for r in results) == sorted(item.name for item in images)  # each exactly once
    assert all(r.error is None and r.label for r in results)
    ticks = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert max(t["running"] + t["booting"] for t in ticks) >= 2
    assert ticks[-1]["rate"] > 0  # the real workers reported their measured speed
    assert [code for _, code, _ in fleet.exited] == [0] * len(fleet.exited) and len(fleet.exited) >= 2
