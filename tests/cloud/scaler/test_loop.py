"""The scaler loop: from zero to several workers and back, one JSON object per tick, clean stops."""

from __future__ import annotations

import json
import logging
import time
import uuid

from botocore.exceptions import ClientError

from cloud.local.fleet import LocalFleet
from cloud.local.priority import WORKERS
from cloud.scaler.defaults import REPLY_PRUNE_SECONDS
from cloud.scaler.loop import Scaler
from cloud.scaler.policy import Settings
from shared import reply_queues
from shared.sqs import SQSService

OPTIONS = {"max_workers": 4, "options": WORKERS}  # the cap and spawn options every LocalFleet is given


def test_a_backlog_scales_out_from_zero_and_back_to_zero(local_cfg, fake_spawn, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS_PER_IMAGE", "0.1")
    sqs = SQSService(local_cfg)
    url = sqs.url(local_cfg.request_queue)
    ticks = []
    log_path = tmp_path / "scaler.jsonl"
    fleet = LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS, max_booting=3)
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

    assert max(t.running + t.booting for t in ticks) == 3  # out to the cap, never beyond it
    assert any(t.action == "scale-out" for t in ticks) and any(t.action == "scale-in" for t in ticks)
    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(rows) == len(ticks)
    assert {"ts", "visible", "in_flight", "running", "booting", "desired", "action"} <= set(rows[0])
    assert rows[-1]["running"] + rows[-1]["booting"] == 0
    assert all(b["ts"] >= a["ts"] for a, b in zip(rows, rows[1:], strict=False))
    assert [code for _, code, _ in fleet.exited] == [0, 0, 0]
    # The workers' measured rate (up to 10 images/s) replaced the assumed one, and outlives them.
    assert "default" in ticks[next(i for i, t in enumerate(ticks) if t.action == "scale-out")].reason
    assert ticks[-1].rate is not None and 2 < ticks[-1].rate <= 10.5 and rows[-1]["rate"] == ticks[-1].rate


def test_a_failing_tick_is_reported_and_the_loop_goes_on(local_cfg, fake_spawn):
    broken = local_cfg.replace(request_queue="no-such-queue")
    ticks = []
    scaler = Scaler(broken, LocalFleet(broken, spawn=fake_spawn, **OPTIONS), tick=0.05, on_tick=ticks.append).start()
    try:
        deadline = time.monotonic() + 10
        while len(ticks) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scaler.stop()
    assert len(ticks) >= 3 and all(t.action == "error" for t in ticks)
    assert "NonExistentQueue" in ticks[0].reason or "does not exist" in ticks[0].reason


def test_ticks_prune_dead_clients_reply_queues_every_so_often(local_cfg, fake_spawn):
    cfg = local_cfg.replace(reply_queue_prefix=f"replies-{uuid.uuid4().hex[:8]}-")  # only this test's queues
    sqs = SQSService(cfg)
    prefix, now = cfg.reply_queue_prefix, [time.time()]
    reply_queues.create(sqs, f"{prefix}killed", now=now[0] - 2 * reply_queues.TTL_SECONDS)
    short = reply_queues.create(sqs, f"{prefix}short", ttl_seconds=60, now=now[0])
    live = reply_queues.create(sqs, f"{prefix}live", now=now[0])
    scaler = Scaler(cfg, LocalFleet(cfg, spawn=fake_spawn, **OPTIONS), sqs=sqs, clock=lambda: now[0])
    try:
        assert scaler.tick().action == "hold"  # the first tick prunes
        assert set(sqs.queue_urls(prefix)) == {live, short}
        now[0] += 120  # "short" has expired, but the next prune is not due yet
        scaler.tick()
        assert set(sqs.queue_urls(prefix)) == {live, short}
        now[0] += REPLY_PRUNE_SECONDS
        scaler.tick()
        assert sqs.queue_urls(prefix) == [live]
    finally:
        scaler.stop()


def test_a_failing_prune_is_logged_and_the_ticks_go_on(local_cfg, fake_spawn, caplog):
    sqs = SQSService(local_cfg)
    calls = []

    def denied(prefix):
        calls.append(prefix)
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "ListQueues")

    sqs.queue_urls = denied  # a scaler role without sqs:ListQueues
    now = [time.time()]
    scaler = Scaler(local_cfg, LocalFleet(local_cfg, spawn=fake_spawn, **OPTIONS), sqs=sqs, clock=lambda: now[0])
    try:
        with caplog.at_level(logging.WARNING, logger="imgrec.scaler"):
            assert scaler.tick().action == "hold"
            assert scaler.tick().action == "hold"
        assert len(calls) == 1  # tried again at the next turn, not at every tick
        assert any("could not prune reply queues" in r.message and "AccessDenied" in r.message
                   for r in caplog.records)
        now[0] += REPLY_PRUNE_SECONDS
        scaler.tick()
        assert len(calls) == 2
    finally:
        scaler.stop()


def test_a_scale_out_the_fleet_cannot_carry_out_is_logged_once_not_every_tick(caplog):
    """The EC2 fleet holding launches (workers that die at boot) answers every tick's scale-out with a note;
    the fleet logs its reason once, and the loop does not repeat the same line every 2 s."""
    import threading

    from cloud.scaler.fleet import FleetState, ScaleResult
    from shared.config import load_config
    from shared.sqs import QueueDepth

    class HeldFleet:
        kind = "ec2"
        changed = threading.Event()

        def observe(self):
            return FleetState()

        def scale_to(self, desired):
            return ScaleResult(note="held: 3 workers in a row failed to start")

    class Backlog:
        def url(self, name):
            return name

        def depth(self, url):
            return QueueDepth(visible=50, in_flight=0)

    scaler = Scaler(load_config(env={}), HeldFleet(), sqs=Backlog(), prune_every=None)
    with caplog.at_level(logging.INFO, logger="imgrec.scaler"):
        ticks = [scaler.tick() for _ in range(5)]
    assert all(t.action == "scale-out" and t.note.startswith("held") for t in ticks)
    assert len([r for r in caplog.records if "held: 3 workers" in r.getMessage()]) == 1
