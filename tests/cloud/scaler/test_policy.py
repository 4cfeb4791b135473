"""The scaling decision: what a user of the fleet would notice, and its properties over all inputs."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from cloud.scaler.policy import HOLD, SCALE_IN, SCALE_OUT, Observation, Settings, decide

DEFAULT = Settings()  # 60 s to drain a backlog, workers assumed at 40 images/s until measured


@st.composite
def settings(draw) -> Settings:
    max_workers = draw(st.integers(1, 40))
    return Settings(
        min_workers=draw(st.integers(0, max_workers)),
        max_workers=max_workers,
        target_drain_seconds=draw(st.floats(0.5, 600)),
        boot_seconds=draw(st.floats(0, 120)),
        default_rate=draw(st.floats(0.1, 500)),
        activation_backlog=draw(st.integers(0, 1)),
        scale_in_delay=draw(st.floats(0, 120)),
    )


@st.composite
def observations(draw) -> Observation:
    running = draw(st.integers(0, 40))
    return Observation(
        visible=draw(st.integers(0, 20_000)),
        in_flight=draw(st.integers(0, 400)),
        delayed=draw(st.integers(0, 50)),
        running=running,
        booting=draw(st.integers(0, 40)),
        idle=draw(st.integers(0, running)),
        empty_for=draw(st.floats(0, 600)),
        rate=draw(st.none() | st.floats(0.05, 500)),
    )


def test_a_twenty_image_burst_wakes_one_worker_not_nineteen():
    d = decide(Observation(visible=20), DEFAULT)
    assert (d.desired, d.action) == (1, SCALE_OUT)


def test_a_fast_fleet_launches_no_worker_that_could_not_help():
    # One worker at a measured 50 images/s drains 1,000 images in 20 s, within the 60-s target: more
    # workers would each pay a boot to save seconds. At the old engine's 2 images/s it takes nine.
    fast = decide(Observation(visible=1000, rate=50), DEFAULT)
    assert (fast.desired, fast.action) == (1, SCALE_OUT) and "measured" in fast.reason
    assert decide(Observation(visible=1000, rate=2), DEFAULT).desired == 9


def test_a_backlog_beyond_what_running_workers_drain_within_the_target_launches_more():
    two = Observation(visible=4780, in_flight=20, running=2, rate=40)  # 2 x 40/s x 60 s = 4,800
    assert (decide(two, DEFAULT).desired, decide(two, DEFAULT).action) == (2, HOLD)
    more = decide(replace(two, visible=6000), DEFAULT)
    assert (more.desired, more.action) == (3, SCALE_OUT)
    assert decide(replace(two, visible=100_000), DEFAULT).desired == 19  # the cap still binds


def test_before_any_worker_has_reported_the_default_rate_is_used():
    slow_default = Settings(default_rate=2)
    assumed = decide(Observation(visible=1000), slow_default)
    assert assumed.desired == 9 and "default" in assumed.reason
    assert decide(Observation(visible=1000, rate=40), slow_default).desired == 1  # a report replaces it
    assert decide(Observation(visible=1000, rate=0.0), slow_default).desired == 9  # a bogus one does not


def test_a_worker_always_gets_at_least_its_boot_time_of_work():
    # A 10-s target with 40-s boots: a worker launched for 100 images (10 s at 10/s) would arrive after
    # the backlog it was launched for; each gets 40 s of work instead.
    s = Settings(target_drain_seconds=10, boot_seconds=40, default_rate=10)
    assert decide(Observation(visible=1000), s).desired == 3  # not 10


def test_backlog_that_booting_workers_will_absorb_launches_nothing_more():
    d = decide(Observation(visible=100, booting=2), DEFAULT)
    assert (d.desired, d.action) == (2, HOLD)


def test_the_cap_counts_booting_workers():
    d = decide(Observation(visible=100_000, running=10, booting=9), DEFAULT)
    assert (d.desired, d.action) == (19, HOLD)


def test_in_flight_messages_keep_busy_workers_when_the_queue_looks_empty():
    # Four workers each hold a batch; nothing is visible. Scaling on visible alone would kill them.
    d = decide(Observation(visible=0, in_flight=40, running=4, idle=0), DEFAULT)
    assert d.desired == 4 and d.action == HOLD


def test_idle_workers_go_once_nothing_waits_but_the_busy_ones_stay():
    d = decide(Observation(visible=0, in_flight=3, running=10, idle=7), DEFAULT)
    assert (d.desired, d.action) == (3, SCALE_IN)


def test_no_scale_in_while_messages_wait():
    d = decide(Observation(visible=30, in_flight=10, running=5, idle=1), DEFAULT)
    assert (d.desired, d.action) == (5, HOLD)


def test_the_last_worker_lingers_then_the_fleet_goes_to_zero():
    linger = Settings(scale_in_delay=10)
    assert decide(Observation(running=3, idle=3, empty_for=2), linger).desired == 1
    gone = decide(Observation(running=1, idle=1, empty_for=10), linger)
    assert (gone.desired, gone.action) == (0, SCALE_IN)
    assert "empty" in gone.reason


def test_an_idle_fleet_at_zero_stays_there_and_min_workers_is_kept():
    assert decide(Observation(), DEFAULT).action == HOLD
    assert decide(Observation(), Settings(min_workers=2)).desired == 2


def test_activation_threshold_holds_a_small_backlog_at_zero_but_not_in_flight_work():
    lazy = Settings(activation_backlog=5)
    assert decide(Observation(visible=4), lazy).desired == 0
    assert decide(Observation(visible=5), lazy).desired == 1
    assert decide(Observation(in_flight=1), lazy).desired == 1  # someone holds work: keep a worker
    assert decide(Observation(visible=2, running=1), lazy).desired == 1  # an awake fleet stays awake


@given(observations(), settings())
def test_bounded(obs, s):
    d = decide(obs, s)
    assert s.min_workers <= d.desired <= s.max_workers


@given(observations(), settings())
def test_never_zero_while_messages_are_visible_or_in_flight(obs, s):
    if obs.visible + obs.in_flight > 0:
        assert decide(obs, s).desired >= 1


@given(observations(), settings(), st.integers(0, 5000), st.integers(0, 400))
def test_monotone_in_backlog(obs, s, more_visible, more_in_flight):
    more = replace(obs, visible=obs.visible + more_visible, in_flight=obs.in_flight + more_in_flight,
                   empty_for=0.0 if more_visible + more_in_flight else obs.empty_for)
    assert decide(more, s).desired >= decide(obs, s).desired


@given(observations(), settings())
def test_never_removes_busy_workers_and_action_matches_the_count(obs, s):
    d = decide(obs, s)
    assert d.desired >= min(obs.busy, s.max_workers)
    expected = SCALE_OUT if d.desired > obs.active else SCALE_IN if d.desired < obs.active else HOLD
    assert d.action == expected and d.reason


@given(observations(), settings(), st.floats(0.05, 500))
def test_a_faster_fleet_never_wants_more_workers(obs, s, faster_by):
    slow = replace(obs, rate=obs.rate or s.default_rate)
    fast = replace(slow, rate=slow.rate + faster_by)
    assert decide(fast, s).desired <= decide(slow, s).desired


@given(observations(), settings())
def test_enough_workers_to_drain_the_work_within_the_target_unless_capped(obs, s):
    awake = obs.active > 0 or obs.in_flight > 0 or obs.visible + obs.delayed >= max(s.activation_backlog, 1)
    if obs.work and awake:
        rate = obs.rate or s.default_rate
        needed = math.ceil(obs.work / (rate * max(s.target_drain_seconds, s.boot_seconds)))
        assert decide(obs, s).desired >= min(needed, s.max_workers)
