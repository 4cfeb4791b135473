"""Provisioning creates the buckets and queues once, is safe to re-run, and wires the dead-letter queue."""

import json

import pytest
from moto import mock_aws

from shared.config import load_config
from shared.provision import lookup, provision
from shared.s3 import S3Service
from shared.sqs import SQSService


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
