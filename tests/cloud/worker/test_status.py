"""What a worker reports about itself: its states, and the rate it measured over busy time only."""

from __future__ import annotations

import io

import pytest

from cloud.worker.status import RATE_WINDOW_IMAGES, StatusReporter
from shared.worker_status import BUSY, IDLE, READY, parse_status_line, parse_status_object


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
    read = parse_status_object(status.snapshot())  # what a scaler reads back
    assert (read.worker_id, read.state, read.images_per_s) == ("w1", IDLE, 40.0)


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
    assert [e.state for e in events] == [READY, BUSY, BUSY, IDLE]
    assert [e.images_per_s for e in events] == [None, None, 40.0, 40.0]
    assert all(e.worker_id == "w1" for e in events)
