"""One backoff policy for every hand-written retry: exponential growth, capped, with full jitter.

``ceiling(n)`` is the longest pause after the n-th failure in a row: ``first`` doubled n - 1 times,
never more than ``longest``. ``delay(n)`` draws the pause uniformly below that ceiling ("full
jitter"), so many workers failing at once do not retry in step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float
    longest: float

    def __post_init__(self):
        if not 0 < self.first <= self.longest:
            raise ValueError(f"backoff needs 0 < first ({self.first}) <= longest ({self.longest})")

    def ceiling(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row (1 or more), without jitter."""
        if failures < 1:
            raise ValueError(f"failures must be 1 or more, not {failures}")
        if failures > 64:  # 2 ** 63 overflows every sensible longest already
            return self.longest
        return min(self.first * 2 ** (failures - 1), self.longest)

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """A pause drawn uniformly from [0, ceiling(failures))."""
        return self.ceiling(failures) * rand()
