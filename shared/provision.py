"""Creates, idempotently, what the pipeline needs: two buckets, a request queue and its dead-letter queue.

Safe to re-run: existing resources are kept, their queue attributes brought up to date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.config import Config
from shared.s3 import S3Service
from shared.sqs import SQSService

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: failed requests stay for inspection


@dataclass(frozen=True)
class Resources:
    buckets: dict[str, str]  # role -> bucket name
    queues: dict[str, str]  # role -> queue URL

    def to_dict(self) -> dict:
        return {"buckets": dict(self.buckets), "queues": dict(self.queues)}


def _ensure_bucket(s3: S3Service, cfg: Config, name: str) -> None:
    kwargs = {"Bucket": name}
    if cfg.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
    try:
        s3.client.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _ensure_queue(sqs: SQSService, name: str, attributes: dict[str, str]) -> str:
    try:
        return sqs.create_queue(name, attributes)
    except ClientError as exc:
        if "QueueAlreadyExists" not in exc.response.get("Error", {}).get("Code", ""):
            raise
    # It exists with other attributes (an earlier version of these settings): update it in place.
    url = sqs.url(name)
    sqs.client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def request_queue_attributes(cfg: Config, dlq_arn: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(cfg.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(cfg.wait_time),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(cfg.max_receives)}),
    }


def provision(cfg: Config, s3: S3Service | None = None, sqs: SQSService | None = None) -> Resources:
    s3 = s3 or S3Service(cfg)
    sqs = sqs or SQSService(cfg)
    for bucket in (cfg.input_bucket, cfg.output_bucket):
        _ensure_bucket(s3, cfg, bucket)
    dlq_url = _ensure_queue(sqs, cfg.dead_letter_queue, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    dlq_arn = sqs.client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    request_url = _ensure_queue(sqs, cfg.request_queue, request_queue_attributes(cfg, dlq_arn))
    return describe(cfg, request_url, dlq_url)


def describe(cfg: Config, request_url: str, dlq_url: str) -> Resources:
    return Resources(
        buckets={"input": cfg.input_bucket, "output": cfg.output_bucket},
        queues={"requests": request_url, "dead_letter": dlq_url},
    )


def lookup(cfg: Config, sqs: SQSService | None = None) -> Resources:
    """The resources as they exist now, without creating anything (raises if a queue is missing)."""
    sqs = sqs or SQSService(cfg)
    return describe(cfg, sqs.url(cfg.request_queue), sqs.url(cfg.dead_letter_queue))
