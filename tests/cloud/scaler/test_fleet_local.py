"""The local fleet: status lines become booting/running/idle and the workers' measured rate; scale-in
stops idle workers only."""

from __future__ import annotations

import time

from cloud.local.fleet import LocalFleet
from cloud.local.priority import WORKERS
from shared.sqs import SQSService

OPTIONS = {"max_workers": 4, "options": WORKERS}  # the cap and spawn options every LocalFleet is given


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_workers_boot_then_run_and_scale_in_stops_only_the_idle_one(local_cfg, fake_spawn, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS_PER_IMAGE", "4")  # one message keeps a worker busy for the test
    monkeypatch.setenv("FAKE_BATCH", "1")
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS, max_booting=2)
    try:
        assert fleet.scale_to(2).launched == ("local-1", "local-2")
        assert fleet.observe().booting + fleet.observe().running == 2
        wait_for(lambda: fleet.observe().running == 2 and len(fleet.observe().idle_ids) == 2)

        sqs = SQSService(local_cfg)
        sqs.send_batch(sqs.url(local_cfg.request_queue), ["work"])
        state = wait_for(lambda: s if len((s := fleet.observe()).idle_ids) == 1 else None)
        busy = next(w.id for w in state.workers if w.state == "busy")

        result = fleet.scale_to(0)
        assert busy not in result.removed and len(result.removed) == 1
        assert "kept" in result.note
        wait_for(lambda: [w.id for w in fleet.observe().workers] == [busy])
        assert fleet.exited[0][1] == 0  # the idle worker drained and exited cleanly
    finally:
        fleet.close(grace=10)
    assert fleet.observe().workers == ()
    assert [code for _, code, _ in fleet.exited] == [0, 0]  # the busy one finished its message, then exited


def test_closing_the_fleet_lets_a_draining_worker_finish_its_drain(local_cfg, fake_spawn, monkeypatch):
    monkeypatch.setenv("FAKE_DRAIN_SECONDS", "2")
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS)
    try:
        fleet.scale_to(1)
        wait_for(lambda: fleet.observe().running == 1 and fleet.observe().idle_ids)
        assert fleet.scale_to(0).removed == ("local-1",)  # SIGTERM: it drains for 2 s
    finally:
        fleet.close(grace=10)  # must not signal it again
    assert [code for _, code, _ in fleet.exited] == [0]


def test_one_cold_start_at_a_time_then_the_next(local_cfg, fake_spawn):
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS)
    try:
        first = fleet.scale_to(2)
        assert first.launched == ("local-1",) and "1 more" in first.note
        assert fleet.scale_to(2).launched == ()  # still booting
        wait_for(lambda: fleet.observe().running == 1)
        assert fleet.scale_to(2).launched == ("local-2",)
    finally:
        fleet.close(grace=5)


def test_a_worker_that_dies_while_starting_is_not_restarted_at_once(local_cfg, monkeypatch):
    import subprocess
    import sys

    def broken(cfg, worker_id, extra_args=(), **_):
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdout=subprocess.PIPE)

    fleet = LocalFleet(local_cfg, spawn=broken, **OPTIONS)
    try:
        fleet.scale_to(1)
        wait_for(lambda: fleet.observe().workers == ())
        again = fleet.scale_to(1)
        assert again.launched == () and "next start" in again.note
    finally:
        fleet.close(grace=2)


def test_the_rate_a_worker_measured_reaches_the_fleet(local_cfg, fake_spawn, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS_PER_IMAGE", "0.1")  # at most 10 images/s of busy time
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS)
    try:
        fleet.scale_to(1)
        state = wait_for(lambda: s if (s := fleet.observe()).running == 1 else None)
        assert state.rate is None  # nothing measured before the first batch
        sqs = SQSService(local_cfg)
        sqs.send_batch(sqs.url(local_cfg.request_queue), [f"m{i}" for i in range(10)])
        wait_for(lambda: sqs.depth(sqs.url(local_cfg.request_queue)).total == 0)
        rate = wait_for(lambda: fleet.observe().rate)
        assert 4.0 < rate <= 10.5  # 0.1 s of work and a delete per image
        assert [w.images_per_s for w in fleet.observe().workers] == [rate]
    finally:
        fleet.close(grace=5)
