"""Is the target reachable, and does it hold our buckets and queue? Plain Python, run off the GUI thread.

The target is reached as every command reaches it (:func:`shared.target.reach`): an explicit endpoint is
probed first, so a closed port fails in milliseconds and a silent one within seconds, with a clear
sentence, instead of after boto3's timeouts and retries; on AWS, the buckets no setting names are named
after the account.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from shared import aws, target
from shared.config import Config
from shared.s3 import S3Service, bucket_is_missing
from shared.sqs import SQSService


class Unreachable(ConnectionError):
    """The target cannot be used; the message is one sentence for the banner."""


@dataclass(frozen=True)
class ConnectionReport:
    target: str
    request_queue_url: str
    cfg: Config  # the Config reached: on AWS, with the buckets named after the account


def check_connection(cfg: Config, s3: S3Service | None = None, sqs: SQSService | None = None) -> ConnectionReport:
    """Reaches the target and checks the two buckets and the request queue; raises Unreachable."""
    try:
        cfg = target.reach(cfg)
        s3 = s3 or S3Service(cfg)
        sqs = sqs or SQSService(cfg)
        for bucket in (cfg.input_bucket, cfg.output_bucket):
            try:
                s3.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if bucket_is_missing(exc):
                    raise Unreachable(target.not_provisioned(cfg, f"bucket {bucket}")) from None
                raise
        if not sqs.exists(cfg.request_queue):
            raise Unreachable(target.not_provisioned(cfg, f"queue {cfg.request_queue}"))
        url = sqs.url(cfg.request_queue)
    except Unreachable:
        raise
    except (aws.EndpointUnreachable, BotoCoreError, ClientError) as exc:
        raise Unreachable(target.explain(exc, cfg)) from None
    return ConnectionReport(target=target.describe(cfg), request_queue_url=url, cfg=cfg)
