"""The spot interruption notice: a worker on a spot instance drains before EC2 takes the instance back.

Two minutes before it interrupts a spot instance, EC2 puts ``{"action": "terminate"|"stop"|"hibernate",
"time": ...}`` under ``meta-data/spot/instance-action`` in the instance metadata service (IMDS); until
then that path is a 404. A worker started with an IMDS endpoint (``IMGREC_IMDS_ENDPOINT``, which the
boot script sets on EC2) checks it once before it polls the queue and then every ``POLL_SECONDS``, as
AWS suggests; a notice makes it drain exactly as on a first SIGTERM: no more receives, the batch in
hand finished and published, the rest given back (visibility 0) for other workers. That takes at most
a batch and one long poll, well inside the two minutes. An on-demand instance
(``meta-data/instance-life-cycle``) is not watched. Without an endpoint (every machine but an EC2
worker) nothing here runs, and nothing ever reaches for the real IMDS address.

IMDSv2 only: a session token from ``PUT latest/api/token``, sent with every read, renewed before it
expires or when IMDS refuses it. Proxies are bypassed, as botocore does for IMDS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from shared.backoff import Backoff
from shared.config import Config

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # AWS: check for the notice every 5 s
TOKEN_TTL_SECONDS = 21600  # IMDS's maximum
TOKEN_RENEW_MARGIN_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 2.0
ERROR_BACKOFF = Backoff(first=POLL_SECONDS, longest=30.0)  # well inside the two minutes' notice
ACTION_PATH = "spot/instance-action"
LIFE_CYCLE_PATH = "instance-life-cycle"


class ImdsError(OSError):
    """IMDS did not answer, or answered with an error other than 'no such item'."""


def imds_endpoint(cfg: Config) -> str | None:
    """The IMDS endpoint to watch, or None: the ``imds_endpoint`` setting (IMGREC_IMDS_ENDPOINT)."""
    return cfg.imds_endpoint or None


class Imds:
    """A small IMDSv2 client: ``get(path)`` returns the value under ``latest/meta-data/``, or None for a 404."""

    def __init__(self, endpoint: str, *, timeout: float = REQUEST_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._token: str | None = None
        self._token_expires = 0.0

    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(f"{self.endpoint}/latest/{path}", method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, ""
        except (OSError, ValueError) as exc:
            raise ImdsError(f"IMDS at {self.endpoint}: {exc}") from exc

    def _session_token(self) -> str:
        if self._token is None or self._clock() >= self._token_expires:
            status, body = self._request("PUT", "api/token",
                                         {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)})
            if status != 200 or not body:
                raise ImdsError(f"IMDS at {self.endpoint}: no session token (HTTP {status})")
            self._token = body
            self._token_expires = self._clock() + TOKEN_TTL_SECONDS - TOKEN_RENEW_MARGIN_SECONDS
        return self._token

    def get(self, path: str) -> str | None:
        for _ in range(2):  # a refused token (expired early, IMDS restarted) is renewed once
            status, body = self._request("GET", f"meta-data/{path}",
                                         {"X-aws-ec2-metadata-token": self._session_token()})
            if status == 200:
                return body
            if status == 404:
                return None
            if status != 401:
                break
            self._token = None
        raise ImdsError(f"IMDS at {self.endpoint}: meta-data/{path}: HTTP {status}")


@dataclass(frozen=True)
class Notice:
    action: str  # terminate | stop | hibernate
    time: str  # when, as IMDS gives it (ISO 8601, UTC)


def parse_notice(body: str) -> Notice:
    try:
        data = json.loads(body)
        return Notice(str(data.get("action") or "terminate"), str(data.get("time") or ""))
    except (ValueError, AttributeError):
        return Notice("terminate", "")  # a notice all the same: drain


class SpotWatch:
    """Checks for the interruption notice; calls ``on_notice`` once when it appears."""

    def __init__(self, imds: Imds, on_notice: Callable[[Notice], None], *, interval: float = POLL_SECONDS,
                 backoff: Backoff = ERROR_BACKOFF):
        self.imds = imds
        self.on_notice = on_notice
        self.interval = interval
        self.backoff = backoff
        self.notice: Notice | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0

    def check(self) -> Notice | None:
        """One look; calls ``on_notice`` if a notice is out (once). IMDS errors are logged, not raised."""
        if self.notice is not None:
            return self.notice
        try:
            body = self.imds.get(ACTION_PATH)
        except ImdsError as exc:
            self._failures += 1
            if self._failures == 1:
                log.warning("cannot read the spot interruption notice (will keep trying): %s", exc)
            return None
        if self._failures:
            log.info("IMDS answers again after %d failed look(s)", self._failures)
            self._failures = 0
        if body is None:
            return None
        self.notice = parse_notice(body)
        log.warning("spot interruption notice: EC2 will %s this instance at %s; draining",
                    self.notice.action, self.notice.time or "any moment")
        self.on_notice(self.notice)
        return self.notice

    def start(self) -> SpotWatch:
        """Looks once now (a notice already out stops the worker before it receives), then in a thread."""
        if self.check() is None:
            self._thread = threading.Thread(target=self._run, name="spot-watch", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._pause()):
            if self.check() is not None:
                return

    def _pause(self) -> float:
        return max(self.interval, self.backoff.delay(self._failures)) if self._failures else self.interval

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT_SECONDS * 3)


def watch(cfg: Config, on_notice: Callable[[Notice], None]) -> SpotWatch | None:
    """Starts watching for the notice when an IMDS endpoint is configured and the instance is a spot
    instance (or its life cycle cannot be read); None otherwise."""
    endpoint = imds_endpoint(cfg)
    if not endpoint:
        return None
    imds = Imds(endpoint)
    try:
        life_cycle = imds.get(LIFE_CYCLE_PATH)
    except ImdsError as exc:
        log.warning("cannot read the instance's life cycle (%s): watching for a spot interruption notice", exc)
        life_cycle = None
    if life_cycle == "on-demand":
        log.debug("an on-demand instance: no spot interruption notice to watch for")
        return None
    return SpotWatch(imds, on_notice, interval=POLL_SECONDS).start()
