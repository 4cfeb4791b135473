"""Provisioning creates the buckets and queues once, is safe to re-run, wires the dead-letter queue, and
sets the protections the CloudFormation stack sets (public access block, encryption, TLS only, lifecycle)."""

import json

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from shared import aws
from shared.config import ConfigError, load_config
from shared.provision import lookup, provision
from shared.s3 import S3Service
from shared.sqs import SQSService
from tests.shared.s3_answers import evaluate_secure_transport


@pytest.fixture
def cfg(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        yield load_config(env={"IMGREC_VISIBILITY_TIMEOUT": "45"})


def test_provision_creates_buckets_and_queues_with_redrive(cfg):
    resources = provision(cfg)
    s3 = S3Service(cfg)
    names = {b["Name"] for b in s3.client.list_buckets()["Buckets"]}
    assert {"imgrec-input", "imgrec-output"} <= names
    sqs = SQSService(cfg)
    attrs = sqs.client.get_queue_attributes(QueueUrl=resources.queues["requests"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3 and redrive["deadLetterTargetArn"].endswith(":imgrec-requests-dlq")
    assert resources.buckets == {"input": "imgrec-input", "output": "imgrec-output"}


def test_provision_is_idempotent_and_updates_changed_settings(cfg):
    first = provision(cfg)
    SQSService(cfg).send_batch(first.queues["requests"], ["keep me"])
    second = provision(cfg.replace(visibility_timeout=90))
    assert second == first
    sqs = SQSService(cfg)
    attrs = sqs.client.get_queue_attributes(QueueUrl=second.queues["requests"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "90"
    assert sqs.depth(second.queues["requests"]).visible == 1  # re-running kept the queued request
    assert lookup(cfg) == first


def test_a_request_received_too_often_lands_in_the_dead_letter_queue(cfg):
    resources = provision(cfg.replace(max_receives=2))
    sqs = SQSService(cfg)
    url = resources.queues["requests"]
    sqs.send_batch(url, ["poison"])
    for _ in range(2):
        (msg,) = sqs.receive(url, wait=0)
        sqs.change_visibility_batch(url, [msg.receipt], 0)
    assert sqs.receive(url, wait=0) == []
    assert sqs.depth(resources.queues["dead_letter"]).visible == 1


# --- the protections of the CloudFormation stack, set locally too -----------------------------------

def tls_statement(policy: str) -> dict:
    return next(s for s in json.loads(policy)["Statement"] if s["Sid"] == "DenyInsecureTransport")


def test_buckets_block_public_access_are_encrypted_and_clean_up_after_themselves(cfg):
    provision(cfg.replace(input_expiry_days=7))
    s3 = S3Service(cfg).client
    for bucket in ("imgrec-input", "imgrec-output"):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                         "RestrictPublicBuckets": True}
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    inputs = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="imgrec-input")["Rules"]}
    assert inputs["imgrec-expire-inputs"]["Expiration"] == {"Days": 7}
    assert inputs["imgrec-abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    outputs = s3.get_bucket_lifecycle_configuration(Bucket="imgrec-output")["Rules"]
    assert [r["ID"] for r in outputs] == ["imgrec-abort-incomplete-uploads"]  # results never expire


def test_queues_are_encrypted_and_refuse_requests_without_tls(cfg):
    resources = provision(cfg)
    sqs = SQSService(cfg).client
    for url in resources.queues.values():
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["SqsManagedSseEnabled"] == "true"
        statement = tls_statement(attrs["Policy"])
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", "sqs:*", attrs["QueueArn"])
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_buckets_refuse_requests_without_tls_where_the_endpoint_can_tell(cfg, monkeypatch):
    evaluate_secure_transport(monkeypatch)  # as AWS does; stock moto cannot (see the next test)
    provision(cfg)
    s3 = S3Service(cfg)
    for bucket in ("imgrec-input", "imgrec-output"):
        statement = tls_statement(s3.client.get_bucket_policy(Bucket=bucket)["Policy"])
        assert statement["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
        assert (statement["Effect"], statement["Principal"]) == ("Deny", "*")
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        s3.put_bytes(bucket, "k", b"over TLS")  # our own requests still get through
        assert s3.get_bytes(bucket, "k") == b"over TLS"
    # Plain HTTP is refused.
    evaluate_secure_transport(monkeypatch, secure=False)
    with pytest.raises(ClientError, match="403"):
        s3.get_bytes("imgrec-input", "k")


def test_a_tls_only_policy_that_would_lock_us_out_is_not_kept(cfg, monkeypatch, caplog):
    # Our requests over plain HTTP, as to a moto server (stock moto 5.2 refuses them under this policy too:
    # it takes the condition as always met).
    evaluate_secure_transport(monkeypatch, secure=False)
    provision(cfg)
    s3 = S3Service(cfg)
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.client.get_bucket_policy(Bucket="imgrec-input")
    s3.put_bytes("imgrec-input", "k", b"still works")
    assert s3.get_bytes("imgrec-input", "k") == b"still works"
    assert "the TLS-only bucket policy is not set" in caplog.text


def test_reprovisioning_keeps_what_others_added_and_follows_the_expiry_setting(cfg, monkeypatch):
    evaluate_secure_transport(monkeypatch)
    provision(cfg)
    s3 = S3Service(cfg).client
    theirs = {"Sid": "AuditorsRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "s3:GetObject", "Resource": "arn:aws:s3:::imgrec-input/*"}
    policy = json.loads(s3.get_bucket_policy(Bucket="imgrec-input")["Policy"])
    policy["Statement"].insert(0, theirs)
    s3.put_bucket_policy(Bucket="imgrec-input", Policy=json.dumps(policy))
    rules = s3.get_bucket_lifecycle_configuration(Bucket="imgrec-input")["Rules"]
    archive = {"ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "old/"}, "Expiration": {"Days": 400}}
    s3.put_bucket_lifecycle_configuration(Bucket="imgrec-input", LifecycleConfiguration={"Rules": [*rules, archive]})

    provision(cfg.replace(input_expiry_days=0))  # keep inputs for ever
    statements = json.loads(s3.get_bucket_policy(Bucket="imgrec-input")["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AuditorsRead", "DenyInsecureTransport"]
    ids = [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket="imgrec-input")["Rules"]]
    assert ids == ["archive", "imgrec-abort-incomplete-uploads"]


def test_an_existing_queue_without_the_protections_gets_them(cfg):
    sqs = SQSService(cfg)
    url = sqs.create_queue("imgrec-requests-dlq", {"SqsManagedSseEnabled": "false"})
    provision(cfg)
    attrs = sqs.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true" and tls_statement(attrs["Policy"])
    assert attrs["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_provisioning_in_another_region_with_derived_names(cfg):
    eu = aws.with_account_defaults(cfg.replace(source="environment AWS_REGION", region="eu-west-1"))
    resources = provision(eu)
    assert resources.buckets == {"input": "imgrec-input-123456789012-eu-west-1",
                                 "output": "imgrec-output-123456789012-eu-west-1"}
    s3 = S3Service(eu).client
    assert s3.get_bucket_location(Bucket=resources.buckets["input"])["LocationConstraint"] == "eu-west-1"


def test_a_bucket_name_another_account_owns_is_a_configuration_error_naming_the_setting(cfg, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")  # someone else took the name first
    S3Service(cfg).client.create_bucket(Bucket="imgrec-output")
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    with pytest.raises(ConfigError, match=r"output_bucket = 'imgrec-output' \(from default\): another AWS account"):
        provision(cfg)
