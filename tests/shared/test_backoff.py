"""The one backoff policy: doubling from first, capped at longest, jittered below the ceiling."""

import random

import pytest

from shared.backoff import Backoff


def test_the_ceiling_doubles_from_first_and_stops_at_longest():
    backoff = Backoff(first=0.5, longest=10.0)
    assert [backoff.ceiling(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.ceiling(10_000) == 10.0


def test_the_delay_is_jittered_within_the_ceiling():
    backoff = Backoff(first=1.0, longest=60.0)
    assert backoff.delay(3, rand=lambda: 0.0) == 0.0
    assert backoff.delay(3, rand=lambda: 0.5) == 2.0
    rng = random.Random(7)
    for failures in range(1, 12):
        draws = [backoff.delay(failures, rand=rng.random) for _ in range(200)]
        assert all(0 <= d < backoff.ceiling(failures) for d in draws)
        assert len(set(draws)) > 100  # jittered, not one value
    early = [backoff.delay(1, rand=rng.random) for _ in range(500)]
    late = [backoff.delay(8, rand=rng.random) for _ in range(500)]
    assert sum(late) / 500 > 10 * sum(early) / 500  # grows with failures


def test_nonsense_is_refused():
    with pytest.raises(ValueError):
        Backoff(first=0, longest=1)
    with pytest.raises(ValueError):
        Backoff(first=2, longest=1)
    with pytest.raises(ValueError):
        Backoff(first=1, longest=2).ceiling(0)
