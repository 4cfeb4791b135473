"""What the chart shows: samples of the queue and the fleet over the last minutes. Pure data, no Qt."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    visible: int
    in_flight: int
    running: int | None  # None: the fleet is not observable from here
    booting: int | None


class Timeline:
    def __init__(self, window: float = WINDOW_SECONDS):
        self.window = window
        self._samples: deque[Sample] = deque()

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)
        while self._samples and sample.at - self._samples[0].at > self.window:
            self._samples.popleft()

    def points(self, now: float | None = None) -> dict[str, list[tuple[float, float]]]:
        """Per series, (seconds relative to now, value): the chart's x axis runs from -window to 0."""
        now = time.monotonic() if now is None else now
        series: dict[str, list[tuple[float, float]]] = {"Visible": [], "In flight": [], "Running": [], "Booting": []}
        for s in self._samples:
            x = s.at - now
            if x < -self.window:
                continue
            series["Visible"].append((x, s.visible))
            series["In flight"].append((x, s.in_flight))
            if s.running is not None:
                series["Running"].append((x, s.running))
            if s.booting is not None:
                series["Booting"].append((x, s.booting))
        return series
