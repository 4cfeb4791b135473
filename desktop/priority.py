"""Background processes started by the app run at a lower priority than the window.

On a small machine the workers' batched inference and the uploads would otherwise take the cores
from the GUI thread, which must answer within 50 ms while they work (bench/gui_latency.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # local classifier workers (the window stays at 0)
BACKGROUND_NICENESS = 5  # the job helper process and the embedded moto server


def lower_priority(pids: Iterable[int], niceness: int = WORKER_NICENESS) -> None:
    """Raises the niceness of each process (never lowers it); a process already gone is skipped."""
    if not hasattr(os, "setpriority"):
        return
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), niceness))
        except OSError as exc:  # already gone, or not ours to change
            log.debug("could not lower the priority of process %s: %s", pid, exc)
