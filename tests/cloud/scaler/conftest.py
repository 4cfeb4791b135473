"""Scaler fixtures: a fresh set of queues and buckets on the session's moto server, and a torch-free
stand-in worker that speaks the real worker's status-line protocol."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared.config import load_config
from shared.provision import provision

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


@pytest.fixture
def local_cfg(moto_server):
    """A config aimed at the session's moto server, with resources of its own (tests share the server)."""
    tag = uuid.uuid4().hex[:8]
    cfg = load_config(env={}).replace(
        source="test", endpoint_url=moto_server.endpoint, request_queue=f"req-{tag}",
        dead_letter_queue=f"dlq-{tag}", input_bucket=f"in-{tag}", output_bucket=f"out-{tag}",
    )
    provision(cfg)
    return cfg


@pytest.fixture
def fake_spawn(monkeypatch):
    """spawn(cfg, worker_id, extra_args) -> Popen of the stand-in worker; FAKE_* knobs via monkeypatch.setenv."""

    def spawn(cfg, worker_id, extra_args=(), log_path=None, env=None, **_options):  # session, niceness: not here
        env = dict(os.environ, **(env or {}), IMGREC_ENDPOINT_URL=cfg.endpoint_url,
                   IMGREC_REQUEST_QUEUE=cfg.request_queue)
        return subprocess.Popen([sys.executable, str(FAKE_WORKER), worker_id, *extra_args], env=env,
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)

    return spawn


@pytest.fixture(scope="module")
def mock_account():
    """An in-process mock AWS account (moto's mock_aws) for a whole test module: its EC2 backend takes
    seconds to start, so tests share it and keep apart by tagging resources with their own names."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # ~1,300 images load in seconds; none is needed
        keys = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        ec2 = boto3.client("ec2", **keys)
        account = {
            "ami_id": "ami-12c6146b",  # any id: moto does not check images unless asked to
            "subnet_id": ec2.describe_subnets()["Subnets"][0]["SubnetId"],
            "security_group_ids": (ec2.create_security_group(GroupName="imgrec-workers",
                                                             Description="workers")["GroupId"],),
        }
        ec2.create_key_pair(KeyName="ops")
        boto3.client("iam", **keys).create_instance_profile(InstanceProfileName="imgrec-worker")
        yield account


@pytest.fixture
def aws_cfg(mock_account):
    """A config for the mock account with queues, buckets and tags of its own (max_workers 4)."""
    tag = uuid.uuid4().hex[:8]
    cfg = load_config(env={}).replace(
        source="test", request_queue=f"req-{tag}", dead_letter_queue=f"dlq-{tag}", input_bucket=f"in-{tag}",
        output_bucket=f"out-{tag}", key_name="ops", instance_profile="imgrec-worker", max_workers=4,
        **mock_account,
    )
    provision(cfg)
    return cfg
