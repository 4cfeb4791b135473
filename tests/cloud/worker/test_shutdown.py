"""Signals: the first asks for a drain, the second exits at once."""

from __future__ import annotations

import os
import signal
import threading

from cloud.worker.shutdown import Shutdown


def test_first_signal_drains_second_exits_at_once():
    exits = []
    drained = threading.Event()
    shutdown = Shutdown(on_request=drained.set, exit_now=exits.append).install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert shutdown.requested.wait(5) and drained.is_set() and exits == []
        os.kill(os.getpid(), signal.SIGINT)
        assert exits == [128 + signal.SIGINT]
    finally:
        shutdown.uninstall()
    assert signal.getsignal(signal.SIGTERM) is not shutdown._handle
