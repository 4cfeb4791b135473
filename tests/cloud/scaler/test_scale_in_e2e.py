"""Jobs that follow a scale-in run at once: a stopping worker leaves nothing hidden in flight.

SQS completes a long poll even after the worker that made it has gone; had the worker exited with a
poll outstanding, the next job's first requests would be handed to nobody and stay invisible for the
whole visibility timeout (60 s here). Each job below is submitted the moment the fleet has started
scaling in, while the stopping worker's last poll is still open.
"""

from __future__ import annotations

import time

import pytest

from cloud.local.embedded import EmbeddedCloud
from shared.config import load_config
from shared.job import JobClient
from shared.scan import scan

pytestmark = pytest.mark.e2e

VISIBILITY_TIMEOUT = 60  # the default: what a lost message would cost
WITHIN_SECONDS = 30.0  # a job of 20 images on a warm machine takes a few seconds; a stall takes 60+


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_back_to_back_jobs_across_scale_ins_take_seconds_not_a_visibility_timeout(workload_dir, tmp_path, reliability):
    images = scan([workload_dir]).images[:20]
    cfg = load_config(env={}).replace(visibility_timeout=VISIBILITY_TIMEOUT)
    with EmbeddedCloud(cfg, workers=0, autoscale=True, log_dir=tmp_path / "workers") as cloud:
        fleet = cloud.scaler.fleet
        durations = []
        for _round in range(3):
            started = time.monotonic()
            with JobClient(cloud.cfg) as client:
                results = list(client.collect(client.submit(images), timeout=VISIBILITY_TIMEOUT * 2))
            durations.append(time.monotonic() - started)
            reliability.record("back-to-back jobs across scale-ins", images=len(images), results=results,
                               expected=[i.name for i in images], seconds=durations[-1])
            assert sorted(r.name for r in results) == sorted(i.name for i in images)
            assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
            # The queue is empty: the scaler stops the workers. Next job as soon as one is stopping.
            _wait_for(lambda: any(w.condition == "draining" for w in fleet.observe().workers)
                      or not fleet.observe().workers, 30, "the fleet did not scale in")
        assert max(durations) < WITHIN_SECONDS, durations
        assert len(fleet.exited) >= 2 and all(code == 0 for _, code, _ in fleet.exited)
