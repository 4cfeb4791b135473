"""Received requests waiting for a batch: bounded, so a worker holds no more than it will start soon.

Receivers ``reserve`` room before each receive call (so concurrent receives never overshoot the
bound), then ``put`` what came back; the inference loop ``take``s up to a batch. ``close`` hands
back everything not yet taken, and from then on ``put`` refuses, so nothing is stranded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from shared.messages import Request
from shared.sqs import Message


@dataclass
class Work:
    """A request in hand: its message (for the receipt), the parsed request, and its fetch in progress."""

    message: Message
    request: Request
    received: float  # Unix time the receive returned
    fetch: Future  # -> cloud.worker.fetch.Fetched

    @property
    def receipt(self) -> str:
        return self.message.receipt


class Inbox:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: deque[Work] = deque()
        self._reserved = 0
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def reserve(self, most: int, timeout: float) -> int:
        """Waits up to ``timeout`` for room; reserves and returns up to ``most`` places (0: none)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                room = self.capacity - len(self._items) - self._reserved
                if room > 0:
                    granted = min(most, room)
                    self._reserved += granted
                    return granted
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    return 0
            return 0

    def unreserve(self, count: int) -> None:
        with self._cond:
            self._reserved -= count
            self._cond.notify_all()

    def put(self, works: Sequence[Work], reserved: int) -> bool:
        """Adds works received on a reservation; False (nothing added) once the inbox is closed."""
        with self._cond:
            self._reserved -= reserved
            if self._closed:
                self._cond.notify_all()
                return False
            self._items.extend(works)
            self._cond.notify_all()
            return True

    def take(self, most: int, timeout: float) -> list[Work]:
        """Up to ``most`` works, oldest first; waits up to ``timeout`` for the first, never for more."""
        with self._cond:
            if not self._items:
                self._cond.wait_for(lambda: self._items or self._closed, timeout)
            batch = [self._items.popleft() for _ in range(min(most, len(self._items)))]
            if batch:
                self._cond.notify_all()
            return batch

    def close(self) -> list[Work]:
        """Refuses further puts and returns the works never taken."""
        with self._cond:
            self._closed = True
            left = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return left
