"""A thread-safe mailbox between background threads and the GUI.

Background threads ``put`` as fast as results arrive; a GUI timer ``drain``s every 100 ms and applies
everything in one model update. One signal per result would flood the event loop with thousands of
queued calls and one row insertion each; batches keep the window responsive.
"""

from __future__ import annotations

import threading
from typing import Any

FLUSH_INTERVAL_MS = 100


class Inbox:
    def __init__(self) -> None:
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def drain(self) -> list[Any]:
        with self._lock:
            items, self._items = self._items, []
        return items
