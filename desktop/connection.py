"""Is the target reachable, and does it hold our buckets and queue? Plain Python, run off the GUI thread.

An explicit endpoint is probed first (shared.aws.probe: one HTTP request under one deadline): a closed
port then fails in milliseconds and a silent one within seconds, with a clear sentence, instead of
after boto3's timeouts and retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws
from shared.config import Config
from shared.s3 import S3Service
from shared.sqs import SQSService


class Unreachable(ConnectionError):
    """The target cannot be used; the message is one sentence for the banner."""


@dataclass(frozen=True)
class ConnectionReport:
    target: str
    request_queue_url: str


def describe_target(cfg: Config) -> str:
    if cfg.endpoint_url:
        return cfg.endpoint_url
    return f"AWS {cfg.region}" + (f" (profile {cfg.profile})" if cfg.profile else "")


def probe(endpoint_url: str, deadline: float = aws.PROBE_DEADLINE_SECONDS) -> None:
    """Raises Unreachable when the endpoint refuses connections or does not answer within ``deadline``."""
    try:
        aws.probe(endpoint_url, deadline)
    except aws.EndpointUnreachable as exc:
        raise Unreachable(str(exc)) from None


def explain(exc: BaseException, cfg: Config) -> str:
    """One readable sentence for an AWS failure."""
    target = describe_target(cfg)
    if isinstance(exc, Unreachable):
        return str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        return f"{target}: {code}" + (f" ({message})" if message else "")
    if isinstance(exc, BotoCoreError):
        return f"{target}: {exc}"
    return f"{target}: {exc}"


def check_connection(cfg: Config, s3: S3Service | None = None, sqs: SQSService | None = None) -> ConnectionReport:
    """Reaches the target and checks the two buckets and the request queue; raises Unreachable."""
    if cfg.endpoint_url:
        probe(cfg.endpoint_url)
    try:
        s3 = s3 or S3Service(cfg)
        sqs = sqs or SQSService(cfg)
        for bucket in (cfg.input_bucket, cfg.output_bucket):
            try:
                s3.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("404", "NoSuchBucket", "NotFound"):
                    raise Unreachable(f"{describe_target(cfg)}: bucket {bucket} does not exist "
                                      "(run `imgrec provision`)") from None
                raise
        if not sqs.exists(cfg.request_queue):
            raise Unreachable(f"{describe_target(cfg)}: queue {cfg.request_queue} does not exist "
                              "(run `imgrec provision`)")
        url = sqs.url(cfg.request_queue)
    except Unreachable:
        raise
    except (BotoCoreError, ClientError) as exc:
        raise Unreachable(explain(exc, cfg)) from None
    return ConnectionReport(target=describe_target(cfg), request_queue_url=url)
