"""The embedded moto server: starts on a free loopback port, speaks S3 and SQS, stops by its handle, and
with its parent."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.local.priority import BACKGROUND_NICENESS
from cloud.local.server import MotoServer
from shared.config import load_config
from shared.provision import provision
from shared.sqs import SQSService

ROOT = Path(__file__).resolve().parents[3]


def test_moto_server_serves_the_pipeline_resources_and_stops():
    server = MotoServer().start()
    try:
        assert server.endpoint.startswith("http://127.0.0.1:")
        cfg = server.config(load_config(env={}))
        assert cfg.is_local and cfg.source_of("endpoint_url") == "embedded local cloud"
        resources = provision(cfg)
        sqs = SQSService(cfg)
        url = resources.queues["requests"]
        sqs.send_batch(url, [f"m{i}" for i in range(15)])
        received = sqs.receive(url, wait=1) + sqs.receive(url, wait=1)
        assert len(received) == 15 and len({m.id for m in received}) == 15
        process = server.process
    finally:
        server.stop()
    assert process.poll() is not None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_moto_server_runs_in_a_session_of_its_own_niced_and_stops_with_a_killed_parent():
    """A killed app leaves no moto server behind; while it runs, the server takes no CPU from the window."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "from cloud.local.server import MotoServer\n"
         "import sys, time\nserver = MotoServer().start()\nprint(server.process.pid, flush=True)\ntime.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pid = 0
    try:
        pid = int(parent.stdout.readline())
        assert os.getsid(pid) == pid  # a session (so, on Linux, a scheduler autogroup) of its own
        assert os.getpriority(os.PRIO_PROCESS, pid) >= BACKGROUND_NICENESS
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the moto server outlived its killed parent"
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie of init's does not count)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
