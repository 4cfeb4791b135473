"""`imgrec up` stopped by a signal to its whole process group, or killed outright: its workers drain.

A worker drains on its first SIGTERM and exits at once on a second. A terminal's Ctrl-C, or
``kill -TERM -PGID``, signals every process of the foreground group: were the workers in it, each would
get the signal directly and then again from `imgrec up` stopping its fleet, and exit without finishing.
Each test runs `imgrec up` as a real process in a session of its own (as a shell runs a job) and finds
its children in /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process tree in /proc")]

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 240.0  # moto, provisioning, the model bundle (exported once per session) and the workers
STOP_TIMEOUT = 60.0  # a drain waits out the workers' long polls (2 s here); the fleet's grace is 15 s
WORKERS = 2


def _wait_for(condition, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(interval)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited; nobody may reap it here


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[1] == pid:
            found.append(int(entry.name))
    return found


def _is_worker(pid: int) -> bool:
    try:
        return b"cloud.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class Up:
    process: subprocess.Popen
    log: Path
    children: list[int] = field(default_factory=list)  # the moto server and the workers, when ready

    @property
    def workers(self) -> list[int]:
        return [pid for pid in self.children if _is_worker(pid)]

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_up(tmp_path):
    """start_up(workers) -> Up: `imgrec up --workers N -v` in a session of its own, once its workers are
    ready. Teardown kills whatever of it is left: the process, then the children it had."""
    started: list[Up] = []

    def start(workers: int = WORKERS) -> Up:
        log = tmp_path / f"up-{len(started)}.log"
        env = {**os.environ, "IMGREC_WAIT_TIME": "2"}  # short long polls: a drain takes seconds
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "cloud.cli", "up", "--workers", str(workers), "-v"],
                                       cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True)
        up = Up(process, log)
        started.append(up)
        _wait_for(lambda: f"workers: {workers} ready" in up.text() or process.poll() is not None, READY_TIMEOUT,
                  "imgrec up did not get ready")
        assert process.poll() is None, up.text()[-3000:]
        up.children = _children(process.pid)
        assert len(up.workers) == workers, (up.children, up.text()[-3000:])
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
        up.process.wait()
        for pid in up.children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_signal_to_the_whole_group_stops_each_worker_once_and_they_drain(start_up):
    up = start_up(WORKERS)
    workers = up.workers

    os.killpg(up.process.pid, signal.SIGTERM)  # what a terminal's Ctrl-C does, with SIGINT

    assert up.process.wait(timeout=STOP_TIMEOUT) == 0, up.text()[-3000:]
    text = up.text()
    assert "again: exiting now" not in text, text[-3000:]  # no worker was signalled twice
    # Each worker was asked once (by `imgrec up`), drained and exited 0: the fleet logs how each ended.
    assert text.count("SIGTERM: finishing the batch in hand") == WORKERS, text[-3000:]
    ended = dict(re.findall(r"(local-\d+) stopped \(exit (-?\d+)\)", text))
    assert ended == {f"local-{n}": "0" for n in range(1, WORKERS + 1)}, text[-3000:]
    assert not [pid for pid in up.children if _alive(pid)], "something of imgrec up is still running"
    assert workers and not [pid for pid in workers if _alive(pid)]


def test_workers_of_an_up_that_was_killed_outright_drain_and_exit(start_up):
    up = start_up(WORKERS)
    workers = up.workers

    up.process.kill()  # SIGKILL to `imgrec up` alone: it cannot stop anything
    up.process.wait()

    _wait_for(lambda: not [pid for pid in workers if _alive(pid)], STOP_TIMEOUT,
              "the workers outlived the imgrec up that started them", interval=0.2)
    text = up.text()
    assert text.count("that started this one (pid") == WORKERS, text[-3000:]  # each saw its parent go
    assert len(re.findall(r"worker local-\d+ stopped after \d+ result", text)) == WORKERS, text[-3000:]
