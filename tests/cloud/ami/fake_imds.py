"""A fake instance metadata service (IMDSv2) on a loopback port, for the boot script and the worker.

Reads need a session token from ``PUT /latest/api/token`` (with the TTL header), as IMDSv2 requires;
a read without a valid token gets 401. Values live in ``values`` (path under ``latest/meta-data/`` ->
text, or a callable giving it); a missing path is a 404. ``fail_tokens(n)`` answers the next n token
requests with 503. Every request is recorded as (method, path, status).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeImds:
    def __init__(self, values: dict[str, str | Callable[[], str | None]] | None = None):
        self.values: dict[str, str | Callable[[], str | None]] = dict(values or {})
        self.requests: list[tuple[str, str, int]] = []
        self.tokens: set[str] = set()
        self._token_failures = 0
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-imds", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeImds:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeImds:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set(self, path: str, value: str | Callable[[], str | None] | None) -> None:
        with self._lock:
            if value is None:
                self.values.pop(path, None)
            else:
                self.values[path] = value

    def fail_tokens(self, count: int) -> None:
        with self._lock:
            self._token_failures = count

    def served(self, path: str) -> list[int]:
        """The statuses of the GETs of ``meta-data/<path>`` so far."""
        with self._lock:
            return [status for method, p, status in self.requests if method == "GET" and p == path]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Waits until ``condition()`` (called under the lock) holds after some request."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def _record(self, method: str, path: str, status: int) -> None:
        with self.changed:
            self.requests.append((method, path, status))
            self.changed.notify_all()

    def _answer(self, method: str, path: str, headers) -> tuple[int, str]:
        with self._lock:
            if method == "PUT" and path == "api/token":
                if self._token_failures:
                    self._token_failures -= 1
                    return 503, ""
                if not headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return 400, ""
                token = uuid.uuid4().hex
                self.tokens.add(token)
                return 200, token
            if method != "GET" or not path.startswith("meta-data/"):
                return 405 if method != "GET" else 404, ""
            if headers.get("X-aws-ec2-metadata-token") not in self.tokens:
                return 401, ""
            value = self.values.get(path.removeprefix("meta-data/"))
        if callable(value):
            value = value()
        return (404, "") if value is None else (200, value)

    def _handler(self):
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                path = self.path.removeprefix("/latest/")
                status, body = imds._answer(self.command, path, self.headers)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                imds._record(self.command, path.removeprefix("meta-data/"), status)

            do_GET = do_PUT = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler
