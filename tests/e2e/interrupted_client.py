"""``imgrec classify ARGS`` that stops dead at a chosen point, for a test to SIGKILL it there.

    python -m tests.e2e.interrupted_client upload N classify ARGS...    # after N files are uploaded
    python -m tests.e2e.interrupted_client collect N classify ARGS...   # after N results came back

The real command runs; only its progress report is wrapped, so that the thread reporting file N (a
transfer thread, or the collecting main thread) prints ``STOPPED`` on stdout and then blocks forever.
"""

import sys
import threading

from cloud.cli import main
from shared.progress import Progress

where, after, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen = 0
lock = threading.Lock()


def stop_at(report):
    def wrapped(self, *a, **kw):
        global seen
        with lock:
            seen += 1
            here = seen
        report(self, *a, **kw)
        if here >= after:
            if here == after:
                print("STOPPED", flush=True)
            threading.Event().wait()  # blocked until the test kills this process
    return wrapped


if where == "upload":
    Progress.uploaded = stop_at(Progress.uploaded)
else:
    Progress.result = stop_at(Progress.result)
sys.exit(main(args))
