"""The scaling decision: what a user of the fleet would notice, and its properties over all inputs."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from cloud.scaler.policy import HOLD, SCALE_IN, SCALE_OUT, Observation, Settings, decide

DEFAULT = Settings()


@st.composite
def settings(draw) -> Settings:
    max_workers = draw(st.integers(1, 40))
    return Settings(
        min_workers=draw(st.integers(0, max_workers)),
        max_workers=max_workers,
        backlog_per_worker=draw(st.integers(1, 200)),
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
        draining=draw(st.integers(0, 5)),
        idle=draw(st.integers(0, running)),
        empty_for=draw(st.floats(0, 600)),
    )


def test_a_twenty_image_burst_wakes_one_worker_not_nineteen():
    d = decide(Observation(visible=20), DEFAULT)
    assert (d.desired, d.action) == (1, SCALE_OUT)


def test_a_large_burst_reaches_the_cap():
    assert decide(Observation(visible=1000), DEFAULT).desired == 19
    assert decide(Observation(visible=10_000), DEFAULT).desired == 19


def test_backlog_that_booting_workers_will_absorb_launches_nothing_more():
    d = decide(Observation(visible=100, booting=2), DEFAULT)
    assert (d.desired, d.action) == (2, HOLD)


def test_the_cap_counts_booting_workers():
    d = decide(Observation(visible=5000, running=10, booting=9), DEFAULT)
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
