"""Background processes started by the app run at a lower priority than the window.

On a small machine the workers' batched inference and the uploads would otherwise take the cores
from the GUI thread, which must answer within 50 ms while they work (bench/gui_latency.py).

Niceness alone is not enough on Linux, where the scheduler shares the CPU between session groups
("autogroups") first and between the processes of a group second: a child in the window's session
spends the window's share, however nice it is. So the heavy children (local workers, the job
helper) are also started in a session of their own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # local classifier workers (the window stays at 0)
BACKGROUND_NICENESS = 5  # the job helper process and the embedded moto server


def lower_priority(pids: Iterable[int], niceness: int = WORKER_NICENESS) -> None:
    """Raises the niceness of each process (never lowers it), and on Linux that of its autogroup when
    it leads a session of its own; a process already gone is skipped."""
    if not hasattr(os, "setpriority"):
        return
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), niceness))
        except OSError as exc:  # already gone, or not ours to change
            log.debug("could not lower the priority of process %s: %s", pid, exc)
            continue
        _nice_autogroup(pid, niceness)


def _nice_autogroup(pid: int, niceness: int) -> None:
    """A session leader's autogroup weighs against the window's group by its own nice value."""
    try:
        if os.getsid(pid) != pid:
            return  # it shares a group (maybe the window's): its process niceness is what counts
        with open(f"/proc/{pid}/autogroup", "w") as fh:
            fh.write(str(niceness))
    except OSError as exc:  # not Linux, autogroups off, or the process is gone
        log.debug("could not lower the autogroup priority of process %s: %s", pid, exc)
