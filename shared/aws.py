"""The one place boto3 clients are built: region, profile, endpoint override, standard retries, and
timeouts a person can live with; the one probe that asks whether an endpoint answers at all; the
settings that depend on the AWS account (bucket names); and whether this machine is an EC2 instance.

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
from pathlib import Path
from urllib.parse import urlparse

import boto3
import botocore.loaders
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import ACCOUNT_SOURCE, Config, ConfigError

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10  # any call that is not a long poll: SQS and S3 answer in well under a second
LONG_POLL_MARGIN_SECONDS = 20  # a long poll's read timeout is its wait time plus this
# Tries in all, the first included. A read timeout is retried too, so attempts x timeout is what
# bounds the wait on a silent endpoint (boto3's old 5 retries x 40 s kept a person waiting 241 s).
MAX_ATTEMPTS = 3
PROBE_DEADLINE_SECONDS = 10.0  # connect, send, first byte of an answer: all of it within this
HINT = "is `imgrec up` running there? is the endpoint right?"
# Where the kernel shows what machine this is: on EC2, a hypervisor id starting "ec2" (Xen instances)
# or the DMI vendor "Amazon EC2" (Nitro instances). Reading them is local and instant.
SYS_DIR = Path("/sys")
_EC2_ID_FILES = ("hypervisor/uuid", "class/dmi/id/sys_vendor", "class/dmi/id/bios_vendor")

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


# --- settings that depend on the account ---------------------------------------------------------

BUCKET_ROLES = {"input_bucket": "input", "output_bucket": "output"}


def bucket_name(role: str, account: str, region: str) -> str:
    """The name a bucket gets when none is given: S3 names are global, so ours carry the account and
    region (``imgrec-input-123456789012-eu-west-1``, at most 44 characters of S3's 63)."""
    return f"imgrec-{role}-{account}-{region}"


def with_account_defaults(cfg: Config, sts=None) -> Config:
    """``cfg`` with a bucket name derived from the account (one STS GetCallerIdentity) for each bucket
    that no setting names, on real AWS. Call once, where a command starts, before anything reads the
    names. An endpoint (a moto server, ``imgrec up``, any S3-compatible store) keeps the plain names
    ``imgrec-input`` / ``imgrec-output`` that its buckets already have: its names are not global, and
    it may have no STS to ask."""
    unnamed = [name for name in BUCKET_ROLES if not cfg.is_given(name)]
    if cfg.endpoint_url or not unnamed:
        return cfg
    try:
        account = (sts or client(cfg, "sts")).get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as exc:
        settings = " and ".join(unnamed)
        raise ConfigError(f"{settings} not set, and the AWS account could not be read to name "
                          f"{'them' if len(unnamed) > 1 else 'it'} imgrec-<role>-<account>-{cfg.region} "
                          f"({exc}): set {settings}, or fix the AWS credentials") from None
    source = f"{ACCOUNT_SOURCE} {account} in {cfg.region}"
    names = {name: bucket_name(BUCKET_ROLES[name], account, cfg.region) for name in unnamed}
    return cfg.replace(source=source, **names)


# --- which machine is this? ------------------------------------------------------------------------

def on_ec2(sys_dir: Path | None = None) -> bool:
    """Whether this machine is an EC2 instance, from files the kernel shows (never a network call)."""
    base = SYS_DIR if sys_dir is None else sys_dir
    for name in _EC2_ID_FILES:
        try:
            text = (base / name).read_text(errors="replace").strip().lower()
        except OSError:
            continue
        if text.startswith("ec2") or text == "amazon ec2":
            return True
    return False


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
