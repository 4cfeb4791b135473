"""The ETA follows the recent rate, not the average since the start; sizes and durations read well."""

from __future__ import annotations

from desktop.progress import RateMeter, format_bytes, format_eta


def test_eta_follows_the_recent_rate():
    meter = RateMeter(window=10)
    assert meter.eta(100, now=0.0) is None  # no rate yet
    for t in range(10):
        meter.add(5, now=float(t))  # 5 per second
    assert abs(meter.eta(100, now=10.0) - 20.0) < 4.0
    meter.add(50, now=30.0)  # the old events left the window
    assert meter.rate(now=30.0) == 50.0
    assert meter.eta(0, now=30.0) == 0.0


def test_formats():
    assert format_eta(None) == "—" and format_eta(42) == "42 s" and format_eta(125) == "2 min 05 s"
    assert format_bytes(512) == "512 B" and format_bytes(2048) == "2.0 KB"


def test_the_chart_keeps_the_last_five_minutes_relative_to_now():
    from desktop.timeline import Sample, Timeline

    timeline = Timeline(window=300)
    for t in range(0, 400, 10):
        timeline.add(Sample(at=float(t), visible=t, in_flight=1, running=None, booting=None))
    points = timeline.points(now=400.0)
    assert points["Visible"][0] == (-300.0, 100) and points["Visible"][-1] == (-10.0, 390)
    assert points["Running"] == []  # the fleet is not observable: no line rather than a false zero
