"""Counters and the ETA: the recent rate, not the average since the start."""

from __future__ import annotations

from desktop.progress import Counters, RateMeter, format_bytes, format_eta


def test_eta_follows_the_recent_rate():
    meter = RateMeter(window=10)
    assert meter.eta(100, now=0.0) is None  # no rate yet
    for t in range(10):
        meter.add(5, now=float(t))  # 5 per second
    assert abs(meter.eta(100, now=10.0) - 20.0) < 4.0
    meter.add(50, now=30.0)  # the old events left the window
    assert meter.rate(now=30.0) == 50.0
    assert meter.eta(0, now=30.0) == 0.0


def test_counters_and_formats():
    assert Counters(submitted=10, done=6, failed=1).remaining == 3
    assert format_eta(None) == "—" and format_eta(42) == "42 s" and format_eta(125) == "2 min 05 s"
    assert format_bytes(512) == "512 B" and format_bytes(2048) == "2.0 KB"
