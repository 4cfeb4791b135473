"""The local fleet: status lines become booting/running/idle, scale-in stops idle workers only; the warm
pool of standby processes is not capacity, is activated first and refilled when the fleet is idle."""

from __future__ import annotations

import os
import time

from cloud.scaler.fleet_local import STANDBY_NICENESS, LocalFleet
from shared.sqs import SQSService


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
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, max_booting=2)
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


def test_one_cold_start_at_a_time_then_the_next(local_cfg, fake_spawn):
    fleet = LocalFleet(local_cfg, spawn=fake_spawn)
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

    fleet = LocalFleet(local_cfg, spawn=broken)
    try:
        fleet.scale_to(1)
        wait_for(lambda: fleet.observe().workers == ())
        again = fleet.scale_to(1)
        assert again.launched == () and "next start" in again.note
    finally:
        fleet.close(grace=2)


def test_the_warm_pool_is_not_capacity_is_activated_first_and_refilled_when_idle(local_cfg, fake_spawn):
    cfg = local_cfg.replace(local_standby=1, max_workers=1)  # the pool only holds room under the cap
    fleet = LocalFleet(cfg, spawn=fake_spawn)
    try:
        state = fleet.observe()  # an idle fleet fills its pool
        assert [w.id for w in state.standby] == ["local-1"]
        assert (state.running, state.booting, state.workers) == (0, 0, ())
        wait_for(lambda: [w.state for w in fleet.observe().standby] == ["standby"])
        pid = fleet.pids()["local-1"]
        assert fleet.observe().standby and fleet.observe().running == 0  # loaded, still not a worker
        assert os.getpriority(os.PRIO_PROCESS, pid) == STANDBY_NICENESS  # it loaded on CPU nobody wanted

        result = fleet.scale_to(1)
        assert result.launched == ("local-1",) and "standby" in result.note  # activated, nothing spawned
        assert fleet.pids() == {"local-1": pid}
        if os.geteuid() == 0:  # lowering a nice value again needs privilege
            assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)
        wait_for(lambda: fleet.observe().running == 1)
        assert fleet.observe().standby == ()  # the cap is in use: nothing to keep ready...

        assert fleet.scale_to(0).removed == ("local-1",)
        refilled = wait_for(lambda: s if (s := fleet.observe()).standby else None)  # ...and one after scale-in
        assert [w.id for w in refilled.standby] == ["local-2"] and refilled.running == 0
        wait_for(lambda: [w.state for w in fleet.observe().standby] == ["standby"])
    finally:
        fleet.close(grace=5)
    assert fleet.observe().standby == () and fleet.pids() == {}
    assert {code for _, code, _ in fleet.exited} == {0}  # the standby process stopped cleanly too


def test_a_standby_process_still_loading_is_promoted_instead_of_a_cold_start(local_cfg, fake_spawn, monkeypatch):
    monkeypatch.setenv("FAKE_BOOT_SECONDS", "1.0")
    fleet = LocalFleet(local_cfg.replace(local_standby=1), spawn=fake_spawn)
    try:
        assert [w.state for w in fleet.observe().standby] == ["loading"]
        result = fleet.scale_to(2)
        assert result.launched == ("local-1",)  # promoted; a second cold start waits for it (one at a time)
        assert fleet.observe().booting == 1
        wait_for(lambda: fleet.observe().running == 1)  # activated as soon as it reported standby
    finally:
        fleet.close(grace=5)
