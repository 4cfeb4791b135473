"""An endpoint that accepts connections but never answers: the CLI and the desktop's connection check
say so, naming the address, within the issue's 15 s; plain calls and long polls get their own timeouts."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from cloud.cli import main as imgrec
from desktop.connection import Unreachable, check_connection
from shared import aws
from shared.config import Config

ANSWER_WITHIN_SECONDS = 15  # the promise
BOUND = 20  # with slack for a loaded machine: a correctness bound, not a benchmark


class MuteServer:
    """A loopback listener that accepts every connection and never sends a byte."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="mute-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the 0.1 s accept timeout, or the socket closed by close()
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def mute():
    server = MuteServer()
    yield server
    server.close()


def _one_line_naming(err: str, address: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert address in lines[0] and "does not answer" in lines[0] and "imgrec up" in lines[0]
    assert "Traceback" not in lines[0]
    return lines[0]


def test_classify_against_a_mute_endpoint_says_so_within_15_s(mute, tmp_path, capsys, reliability):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    started = time.monotonic()
    code = imgrec(["classify", "--no-progress", "--endpoint", mute.address, str(image)])
    took = time.monotonic() - started
    reliability.record("endpoint that accepts connections and never answers", images=1, results=[],
                       refused=1 if code == 2 else 0, seconds=took,
                       note="one line naming the address, exit 2; nothing was accepted")
    assert code == 2
    _one_line_naming(capsys.readouterr().err, mute.address)
    assert took < BOUND
    assert mute.accepted  # it did connect: the silence, not a refusal, is what was reported


def test_status_against_a_mute_endpoint_says_so_within_15_s(mute, capsys):
    started = time.monotonic()
    code = imgrec(["status", "--endpoint", mute.address])
    took = time.monotonic() - started
    assert code == 2
    _one_line_naming(capsys.readouterr().err, mute.address)
    assert took < BOUND


def test_the_desktop_connection_check_says_so_within_15_s(mute):
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        check_connection(Config(endpoint_url=mute.address))
    assert time.monotonic() - started < BOUND
    _one_line_naming(str(caught.value), mute.address)


def test_the_probe_deadline_is_inside_the_promise():
    assert aws.PROBE_DEADLINE_SECONDS < ANSWER_WITHIN_SECONDS


def test_plain_calls_get_a_short_read_timeout_and_long_polls_outlast_their_wait():
    cfg = Config(endpoint_url="http://127.0.0.1:9", wait_time=20)
    plain = aws.client(cfg, "sqs").meta.config
    long_poll = aws.client(cfg, "sqs", long_poll=True).meta.config
    assert plain.read_timeout == aws.READ_TIMEOUT_SECONDS <= 10
    assert plain.retries["total_max_attempts"] == aws.MAX_ATTEMPTS <= 3
    # A silent endpoint bounds a plain call at attempts x timeout (plus backoff): under a minute.
    assert aws.MAX_ATTEMPTS * max(aws.READ_TIMEOUT_SECONDS, aws.CONNECT_TIMEOUT_SECONDS) <= 30
    assert long_poll.read_timeout > cfg.wait_time


def test_only_receive_uses_the_long_poll_client(monkeypatch):
    from shared.sqs import SQSService

    built = []

    class Recorder:
        def __init__(self, long_poll):
            self.long_poll = long_poll

        def receive_message(self, **kwargs):
            built.append(("receive", self.long_poll))
            return {}

    monkeypatch.setattr(aws, "client", lambda cfg, service, long_poll=False, **kw: Recorder(long_poll))
    sqs = SQSService(Config(endpoint_url="http://127.0.0.1:9"))
    assert sqs.client.long_poll is False
    sqs.receive("http://127.0.0.1:9/queue/q", wait=1)
    assert built == [("receive", True)]
