"""The one place boto3 clients are built: region, profile, endpoint override, standard retries, and
timeouts a person can live with; and the one probe that asks whether an endpoint answers at all.

A plain call gets a short read timeout and few attempts, so a silent endpoint fails in about half a
minute at worst instead of four. Only an SQS long poll (``long_poll=True``) holds a connection for
``wait_time`` seconds, so only it gets the longer read timeout.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import time
from urllib.parse import urlparse

import boto3
import botocore.loaders
from botocore.config import Config as BotoConfig

from shared.config import Config

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10  # any call that is not a long poll: SQS and S3 answer in well under a second
LONG_POLL_MARGIN_SECONDS = 20  # a long poll's read timeout is its wait time plus this
# Tries in all, the first included. A read timeout is retried too, so attempts x timeout is what
# bounds the wait on a silent endpoint (boto3's old 5 retries x 40 s kept a person waiting 241 s).
MAX_ATTEMPTS = 3
PROBE_DEADLINE_SECONDS = 10.0  # connect, send, first byte of an answer: all of it within this
HINT = "is `imgrec up` running there? is the endpoint right?"

# Loopback moto servers accept any credentials; real AWS uses the normal credential chain.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_loader: botocore.loaders.Loader | None = None
_loader_lock = threading.Lock()


def _shared_loader() -> botocore.loaders.Loader:
    """One reader of botocore's service models for every session: each new session otherwise parses
    the same JSON again (about 0.3 s per client; 0.1 s with the shared, caching loader)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
            _loader.search_paths.append(os.path.join(os.path.dirname(boto3.__file__), "data"))  # as boto3 does
        return _loader


def _session(cfg: Config) -> boto3.session.Session:
    # A new session per client: sessions are not thread-safe, the clients made from them are.
    kwargs = {"region_name": cfg.region}
    if cfg.profile and not cfg.is_local:
        kwargs["profile_name"] = cfg.profile
    session = boto3.session.Session(**kwargs)
    session._session.register_component("data_loader", _shared_loader())
    return session


def client(cfg: Config, service: str, *, max_pool: int = 32, long_poll: bool = False):
    """A boto3 client for ``service`` (s3, sqs, ec2, autoscaling) aimed at the configured target.

    ``long_poll=True`` is for SQS ReceiveMessage only: its read timeout outlasts ``cfg.wait_time``.
    Every other call gets READ_TIMEOUT_SECONDS, so a call to an endpoint that never answers gives
    up after about MAX_ATTEMPTS x (CONNECT or READ timeout) plus backoff."""
    read_timeout = cfg.wait_time + LONG_POLL_MARGIN_SECONDS if long_poll else READ_TIMEOUT_SECONDS
    boto_config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},  # the first try included
        max_pool_connections=max_pool,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout,
        s3={"addressing_style": "path"} if cfg.endpoint_url else None,
    )
    kwargs = {"config": boto_config}
    if cfg.endpoint_url:
        kwargs["endpoint_url"] = cfg.endpoint_url
        if cfg.is_local:
            kwargs.update(_LOCAL_CREDENTIALS)
    return _session(cfg).client(service, **kwargs)


# --- does the endpoint answer? ---------------------------------------------------------------------

class EndpointUnreachable(ConnectionError):
    """An endpoint refuses connections or does not answer; the message is one sentence with a hint."""


def probe(endpoint_url: str, deadline: float = PROBE_DEADLINE_SECONDS) -> None:
    """Raises EndpointUnreachable unless something at ``endpoint_url`` answers an HTTP request within
    ``deadline`` seconds, all told. Any answer will do (a 403 or 404 too): the question is whether
    the endpoint is alive, before boto3's timeouts and retries would make a person wait."""
    parsed = urlparse(endpoint_url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    end = time.monotonic() + deadline

    def left() -> float:
        return max(0.05, end - time.monotonic())

    if parsed.scheme == "https":
        # Whether it answers, not whether its certificate is trusted: boto3 checks that on the real call.
        conn = http.client.HTTPSConnection(host, port, timeout=min(CONNECT_TIMEOUT_SECONDS, left()),
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=min(CONNECT_TIMEOUT_SECONDS, left()))
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise EndpointUnreachable(f"cannot reach {endpoint_url}: no connection within "
                                      f"{min(CONNECT_TIMEOUT_SECONDS, deadline):.0f} s ({HINT})") from None
        conn.sock.settimeout(left())
        conn.request("GET", "/", headers={"Connection": "close"})
        conn.getresponse().close()
    except EndpointUnreachable:
        raise
    except TimeoutError:
        raise EndpointUnreachable(f"cannot reach {endpoint_url}: it accepts connections but does not "
                                  f"answer within {deadline:.0f} s ({HINT})") from None
    except http.client.HTTPException as exc:
        raise EndpointUnreachable(f"cannot reach {endpoint_url}: it does not answer as an HTTP server "
                                  f"({type(exc).__name__}; {HINT})") from None
    except OSError as exc:
        reason = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).lower()
        raise EndpointUnreachable(f"cannot reach {endpoint_url}: {reason} ({HINT})") from None
    finally:
        conn.close()
