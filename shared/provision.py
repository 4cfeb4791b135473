"""Creates, idempotently, what the pipeline needs: two buckets, a request queue and its dead-letter queue,
with the protections the CloudFormation stack gives them, so what a user tries locally is what they deploy:

* both buckets: all public access blocked, default encryption (SSE-S3), a policy that denies requests
  without TLS (``aws:SecureTransport``), incomplete multipart uploads aborted after a day; inputs
  expire after ``input_expiry_days``;
* both queues: SQS-managed encryption and a policy that denies requests without TLS.

Safe to re-run: existing resources are kept, their settings brought up to date. Statements and rules of
other names that someone added to a bucket or queue policy or lifecycle are kept as they are.

An endpoint that cannot evaluate ``aws:SecureTransport`` (moto 5.2 takes the condition as always
met, so a TLS-only policy denies every object request; plain HTTP on any real store would too) would
lock our own requests out: where our object reads work before the bucket policy is set and are denied
after, the policy is taken back and the log says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.config import Config, ConfigError
from shared.s3 import S3Service
from shared.sqs import SQSService

log = logging.getLogger(__name__)

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: failed requests stay for inspection
ABORT_INCOMPLETE_UPLOAD_DAYS = 1
TLS_ONLY_SID = "DenyInsecureTransport"  # our statement in bucket and queue policies
EXPIRE_INPUTS_ID = "imgrec-expire-inputs"  # our lifecycle rules
ABORT_UPLOADS_ID = "imgrec-abort-incomplete-uploads"
_PROBE_KEY = "imgrec-provision-probe"  # never written: reading it tells whether object requests get through
_PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True}
_SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


@dataclass(frozen=True)
class Resources:
    buckets: dict[str, str]  # role -> bucket name
    queues: dict[str, str]  # role -> queue URL

    def to_dict(self) -> dict:
        return {"buckets": dict(self.buckets), "queues": dict(self.queues)}


# --- policies and rules ----------------------------------------------------------------------------

def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def tls_only_statement(action: str, resources: list[str] | str) -> dict:
    """Denies every request that does not come over TLS (AWS's own recommendation, for S3 and SQS)."""
    return {"Sid": TLS_ONLY_SID, "Effect": "Deny", "Principal": "*", "Action": action, "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _policy_with(current: str | None, statement: dict) -> str:
    """``current`` (a policy document, or None) with ``statement`` in place of any of the same Sid."""
    policy = json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    policy["Statement"] = [s for s in statements if s.get("Sid") != statement["Sid"]] + [statement]
    return json.dumps(policy)


def lifecycle_rules(expiry_days: int) -> list[dict]:
    """Incomplete multipart uploads aborted after a day; objects expired after ``expiry_days`` (0: never)."""
    rules = [{"ID": ABORT_UPLOADS_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_DAYS}}]
    if expiry_days:
        rules.append({"ID": EXPIRE_INPUTS_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                      "Expiration": {"Days": expiry_days}})
    return rules


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# --- buckets ---------------------------------------------------------------------------------------

def _ensure_bucket(s3: S3Service, cfg: Config, setting: str) -> str:
    name = getattr(cfg, setting)
    kwargs = {"Bucket": name}
    if cfg.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
    try:
        s3.client.create_bucket(**kwargs)
    except ClientError as exc:
        if _code(exc) == "BucketAlreadyExists":
            raise ConfigError(f"{setting} = {name!r} (from {cfg.source_of(setting)}): another AWS account owns "
                              "a bucket of that name (S3 names are global): choose another name") from None
        if _code(exc) != "BucketAlreadyOwnedByYou":
            raise
    return name


def _protect_bucket(s3: S3Service, cfg: Config, name: str, expiry_days: int) -> None:
    client = s3.client
    client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK)
    client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=_SSE_S3)
    try:
        existing = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    except ClientError as exc:
        if _code(exc) != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    # Ours are replaced (an expiry set to 0 drops its rule), anyone else's kept.
    rules = [r for r in existing if r.get("ID") not in (ABORT_UPLOADS_ID, EXPIRE_INPUTS_ID)]
    client.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": rules + lifecycle_rules(expiry_days)})
    _require_tls_for_bucket(s3, cfg, name)


def _bucket_policy(s3: S3Service, name: str) -> str | None:
    try:
        return s3.client.get_bucket_policy(Bucket=name)["Policy"]
    except ClientError as exc:
        if _code(exc) != "NoSuchBucketPolicy":
            raise
        return None


def _objects_reachable(s3: S3Service, name: str) -> bool:
    """Whether our object requests get through: a key never written answers 404 (or 403 to a reader
    without s3:ListBucket, where this cannot tell and says False)."""
    try:
        s3.client.head_object(Bucket=name, Key=_PROBE_KEY)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return True
        if _code(exc) in ("403", "AccessDenied"):
            return False
        raise
    return True


def _require_tls_for_bucket(s3: S3Service, cfg: Config, name: str) -> None:
    arn = f"arn:{_partition(cfg.region)}:s3:::{name}"
    current = _bucket_policy(s3, name)
    wanted = _policy_with(current, tls_only_statement("s3:*", [arn, f"{arn}/*"]))
    if current is not None and json.loads(current) == json.loads(wanted):
        return
    reachable = _objects_reachable(s3, name)
    s3.client.put_bucket_policy(Bucket=name, Policy=wanted)
    if not reachable or _objects_reachable(s3, name):
        return
    # With the policy in place the endpoint refuses our own requests: take it back.
    if current is None:
        s3.client.delete_bucket_policy(Bucket=name)
    else:
        s3.client.put_bucket_policy(Bucket=name, Policy=current)
    (log.info if cfg.is_local else log.warning)(
        "bucket %s at %s: the TLS-only bucket policy is not set: with it the endpoint refuses our own object "
        "requests (it cannot evaluate aws:SecureTransport, or they go over plain HTTP)",
        name, cfg.endpoint_url or f"AWS {cfg.region}")


# --- queues ----------------------------------------------------------------------------------------

def dead_letter_queue_attributes() -> dict[str, str]:
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS), "SqsManagedSseEnabled": "true"}


def request_queue_attributes(cfg: Config, dlq_arn: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(cfg.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(cfg.wait_time),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(cfg.max_receives)}),
        "SqsManagedSseEnabled": "true",
    }


def _same_attribute(name: str, current: str | None, wanted: str) -> bool:
    if current is None or name not in ("Policy", "RedrivePolicy"):
        return current == wanted
    if name == "RedrivePolicy":  # SQS answers maxReceiveCount as a number, whichever way it was set
        return {k: str(v) for k, v in json.loads(current).items()} == json.loads(wanted)
    return json.loads(current) == json.loads(wanted)


def _ensure_queue(sqs: SQSService, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """Creates the queue, or brings an existing one's attributes (and its TLS-only policy) up to date;
    returns its URL and ARN."""
    try:
        url = sqs.create_queue(name, attributes)
    except ClientError as exc:
        if not any(code in _code(exc) for code in ("QueueAlreadyExists", "QueueNameExists")):
            raise
        url = sqs.url(name)  # it exists with other attributes (an earlier version of these settings)
    current = sqs.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    wanted = {**attributes,
              "Policy": _policy_with(current.get("Policy"), tls_only_statement("sqs:*", current["QueueArn"]))}
    changed = {k: v for k, v in wanted.items() if not _same_attribute(k, current.get(k), v)}
    if changed:
        # The policy goes along every time: moto 5.2 drops a queue's policy on any update without one.
        sqs.client.set_queue_attributes(QueueUrl=url, Attributes={**changed, "Policy": wanted["Policy"]})
    return url, current["QueueArn"]


# --- the whole set ---------------------------------------------------------------------------------

def provision(cfg: Config, s3: S3Service | None = None, sqs: SQSService | None = None) -> Resources:
    s3 = s3 or S3Service(cfg)
    sqs = sqs or SQSService(cfg)
    for setting, expiry_days in (("input_bucket", cfg.input_expiry_days), ("output_bucket", 0)):
        _protect_bucket(s3, cfg, _ensure_bucket(s3, cfg, setting), expiry_days)
    dlq_url, dlq_arn = _ensure_queue(sqs, cfg.dead_letter_queue, dead_letter_queue_attributes())
    request_url, _ = _ensure_queue(sqs, cfg.request_queue, request_queue_attributes(cfg, dlq_arn))
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
