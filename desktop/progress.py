"""The ETA of a running job, and readable sizes and durations: pure arithmetic, no Qt."""

from __future__ import annotations

import time
from collections import deque

RATE_WINDOW_SECONDS = 20.0  # the ETA follows the recent rate, not the average since the start


class RateMeter:
    """Results per second over a sliding window, and the seconds left at that rate."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._sum = 0  # of the counts in the window

    def add(self, count: int, now: float | None = None) -> None:
        if count <= 0:
            return
        now = self.clock() if now is None else now
        self._events.append((now, count))
        self._sum += count
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self.window:
            self._sum -= self._events.popleft()[1]

    def rate(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        self._trim(now)
        if not self._events:
            return 0.0
        first = self._events[0][0]
        span = max(now - first, 1.0)
        return self._sum / span

    def eta(self, remaining: int, now: float | None = None) -> float | None:
        """Seconds until ``remaining`` more have arrived, or None while there is no rate to go by."""
        if remaining <= 0:
            return 0.0
        rate = self.rate(now)
        return remaining / rate if rate > 0 else None

    def reset(self) -> None:
        self._events.clear()
        self._sum = 0


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
