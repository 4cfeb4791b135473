"""What a worker reports about itself: its states, and the rate it measured over busy time only."""

from __future__ import annotations

import io
import json

import pytest

from cloud.worker.status import (
    BUSY,
    IDLE,
    RATE_WINDOW_IMAGES,
    READY,
    StatusReporter,
    parse_status_line,
    reported_rate,
)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def busy_batch(status: StatusReporter, clock: Clock, images: int, seconds: float) -> None:
    status.set(BUSY)
    clock.now += seconds
    status.add_processed(images)
    status.set(IDLE)


def test_the_rate_counts_busy_time_only(clock):
    status = StatusReporter("w1", clock=clock)
    status.set(READY)
    clock.now += 30  # waiting for work is not slowness
    assert status.images_per_s is None
    busy_batch(status, clock, 32, 0.8)
    clock.now += 60
    busy_batch(status, clock, 32, 0.8)
    assert status.images_per_s == pytest.approx(40.0)
    assert status.snapshot()["images_per_s"] == 40.0 and status.snapshot()["processed"] == 64


def test_the_rate_follows_a_change_of_speed_within_a_window_of_images(clock):
    status = StatusReporter("w1", clock=clock)
    status.set(BUSY)
    for _ in range(20):  # a slow start: 2 images/s
        clock.now += 5
        status.add_processed(10)
    assert status.images_per_s == pytest.approx(2.0)
    for _ in range(RATE_WINDOW_IMAGES // 32 + 1):  # then 40 images/s
        clock.now += 0.8
        status.add_processed(32)
    assert status.images_per_s == pytest.approx(40.0)


def test_status_lines_carry_the_rate_and_repeat_the_state_when_it_changes(clock):
    out = io.StringIO()
    status = StatusReporter("w1", stdout=out, clock=clock)
    status.set(READY)
    status.set(BUSY)
    clock.now += 1
    status.add_processed(40)
    clock.now += 0.1
    status.add_processed(4)  # within a second of the last rate line: not repeated
    status.set(IDLE)
    events = [parse_status_line(line) for line in out.getvalue().splitlines()]
    assert [e["state"] for e in events] == [READY, BUSY, BUSY, IDLE]
    assert [reported_rate(e) for e in events] == [None, None, 40.0, 40.0]
    assert all(e["worker_id"] == "w1" for e in events)


def test_a_line_or_object_without_a_usable_rate_has_none():
    old = json.dumps({"event": "state", "state": "busy", "worker_id": "w1", "ts": 1.0})  # an older worker
    assert reported_rate(parse_status_line(old)) is None
    for bogus in (0, -3, "fast", True, float("inf"), None):
        assert reported_rate({"images_per_s": bogus}) is None
    assert reported_rate({"images_per_s": 12}) == 12.0
