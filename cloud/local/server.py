"""The embedded local cloud's moto server (S3, SQS, EC2, Auto Scaling) on a free loopback port.

It runs as its own process (the ``moto-server`` role of :mod:`shared.children`,
:mod:`cloud.local.moto_server`), so that its request handling does not compete with the client's threads
for one interpreter lock, and so that stopping it is a plain process stop. It is started in a session of
its own at a lower priority (:data:`cloud.local.priority.BACKGROUND`), and it stops with its parent.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

from cloud.local.priority import BACKGROUND, SpawnOptions
from shared.children import spawn
from shared.config import Config

START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCloudError(RuntimeError):
    pass


class MotoServer:
    """A moto server process on 127.0.0.1. Use as a context manager or call start()/stop()."""

    def __init__(self, port: int | None = None, options: SpawnOptions = BACKGROUND):
        self.options = options
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> MotoServer:
        # A session (so a process group) of its own: a Ctrl-C or a signal to the parent's group leaves it
        # serving while the workers drain; the parent stops it after them, or it stops when the parent dies.
        self.process = spawn("moto-server", ["--host", "127.0.0.1", "--port", str(self.port)],
                             session=self.options.session, niceness=self.options.niceness,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalCloudError(f"moto server exited with code {self.process.returncode} on start")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise LocalCloudError(f"moto server did not answer on {self.endpoint} within {START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def config(self, base: Config) -> Config:
        return base.replace(source="embedded local cloud", endpoint_url=self.endpoint)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
