"""The scaler loop: from zero to several workers and back, one JSON object per tick, clean stops."""

from __future__ import annotations

import json
import time

from cloud.scaler.daemon import Scaler
from cloud.scaler.fleet_local import LocalFleet
from cloud.scaler.policy import Settings
from shared.sqs import SQSService


def test_a_backlog_scales_out_from_zero_and_back_to_zero(local_cfg, fake_spawn, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS_PER_IMAGE", "0.1")
    sqs = SQSService(local_cfg)
    url = sqs.url(local_cfg.request_queue)
    ticks = []
    log_path = tmp_path / "scaler.jsonl"
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, max_booting=3)
    # Before any report, 60 messages at the assumed 2 images/s are 30 s of work: three workers for a 10 s drain.
    settings = Settings(max_workers=3, target_drain_seconds=10, default_rate=2, scale_in_delay=0.3)
    scaler = Scaler(local_cfg, fleet, settings=settings, tick=0.2, on_tick=ticks.append, log_json=log_path)
    with scaler:
        time.sleep(0.5)
        assert fleet.observe().workers == ()  # idle: zero workers
        sqs.send_batch(url, [f"m{i}" for i in range(60)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (sqs.depth(url).total == 0 and not fleet.observe().workers):
            time.sleep(0.1)
        assert sqs.depth(url).total == 0
        assert fleet.observe().workers == ()
    assert not scaler.running

    assert max(t.running + t.pending for t in ticks) == 3  # out to the cap, never beyond it
    assert any(t.action == "scale-out" for t in ticks) and any(t.action == "scale-in" for t in ticks)
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(rows) == len(ticks)
    assert {"ts", "visible", "in_flight", "running", "pending", "desired", "action"} <= set(rows[0])
    assert rows[-1]["running"] + rows[-1]["pending"] == 0
    assert all(b["ts"] >= a["ts"] for a, b in zip(rows, rows[1:], strict=False))
    assert [code for _, code, _ in fleet.exited] == [0, 0, 0]
    # The workers' measured rate (up to 10 images/s) replaced the assumed one, and outlives them.
    assert "default" in ticks[next(i for i, t in enumerate(ticks) if t.action == "scale-out")].reason
    assert ticks[-1].rate is not None and 2 < ticks[-1].rate <= 10.5 and rows[-1]["rate"] == ticks[-1].rate


def test_a_failing_tick_is_reported_and_the_loop_goes_on(local_cfg, fake_spawn):
    broken = local_cfg.replace(request_queue="no-such-queue")
    ticks = []
    scaler = Scaler(broken, LocalFleet(broken, spawn=fake_spawn), tick=0.05, on_tick=ticks.append).start()
    try:
        deadline = time.monotonic() + 10
        while len(ticks) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scaler.stop()
    assert len(ticks) >= 3 and all(t.action == "error" for t in ticks)
    assert "NonExistentQueue" in ticks[0].reason or "does not exist" in ticks[0].reason
