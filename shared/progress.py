"""A job's progress on a terminal: a one-line bar on a TTY, an occasional plain line otherwise.

Thread-safe: uploads report from transfer threads, results from the collecting thread.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1  # a TTY bar is redrawn at most this often
LINE_SECONDS = 5.0  # without a TTY, one line at most this often (and a last one at the end)


class Progress:
    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool = True,
                 tty: bool | None = None, clock=time.monotonic):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_draw = float("-inf")
        self._uploaded = 0
        self._bytes = 0
        self._results = 0
        self._failed = 0

    # --- reports -----------------------------------------------------------------------------
    def uploaded(self, _item=None, files_done: int | None = None, bytes_done: int | None = None) -> None:
        """Matches JobClient.submit's on_uploaded(item, files_done, bytes_done)."""
        with self._lock:
            self._uploaded = files_done if files_done is not None else self._uploaded + 1
            self._bytes = bytes_done if bytes_done is not None else self._bytes
            self._maybe_draw()

    def result(self, result) -> None:
        """Matches JobClient.collect's on_result(result)."""
        with self._lock:
            self._results += 1
            if getattr(result, "error", None):
                self._failed += 1
            self._maybe_draw()

    def close(self) -> None:
        """Draws the final state and ends the line."""
        with self._lock:
            if not self.enabled:
                return
            self._draw()
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
            self.enabled = False

    # --- drawing -----------------------------------------------------------------------------
    def text(self) -> str:
        elapsed = max(1e-9, self._clock() - self._started)
        rate = self._results / elapsed
        parts = [f"uploaded {self._uploaded}/{self.total}", f"results {self._results}/{self.total}"]
        if self._failed:
            parts.append(f"{self._failed} failed")
        parts.append(f"{rate:.1f} img/s")
        return "  ".join(parts)

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = self._clock()
        done = self._results >= self.total
        interval = REDRAW_SECONDS if self.tty else LINE_SECONDS
        if now - self._last_draw >= interval or (done and self.tty):
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        if self.tty:
            filled = round(BAR_WIDTH * self._results / self.total) if self.total else BAR_WIDTH
            uploaded = round(BAR_WIDTH * self._uploaded / self.total) if self.total else BAR_WIDTH
            bar = "#" * filled + "-" * max(0, uploaded - filled) + " " * (BAR_WIDTH - max(filled, uploaded))
            self.stream.write(f"\r[{bar}] {self.text()}\033[K")
        else:
            self.stream.write(self.text() + "\n")
        self.stream.flush()
