"""Process priority for local workers, by pid: every thread of the process, and its autogroup.

On Linux ``setpriority(PRIO_PROCESS, pid)`` changes one thread only, and a process that leads a
session of its own is weighed against other sessions by its autogroup's nice value, not its own.
Raising a nice value is always allowed; lowering it again needs privilege (CAP_SYS_NICE or
RLIMIT_NICE), except for an autogroup's, which any owner may set between 0 and 19.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0


def set_niceness(pid: int, niceness: int) -> bool:
    """Sets the nice value of each thread of ``pid`` (and of its autogroup when it leads a session);
    False when that was not allowed or the process is gone (it keeps whatever it had)."""
    if not hasattr(os, "setpriority"):
        return False
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    done = True
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError as exc:  # not permitted (lowering it), or the thread/process is gone
            log.debug("could not set the nice value of %s (thread %s) to %s: %s", pid, tid, niceness, exc)
            done = False
    try:
        if os.getsid(pid) == pid:
            with open(f"/proc/{pid}/autogroup", "w") as fh:
                fh.write(str(max(0, niceness)))
    except OSError:
        pass  # not Linux, autogroups off, or the process is gone
    return done
