"""Fixtures shared by every test: fake AWS credentials, one moto server per session, the workload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_DIR = REPO_ROOT.parent / "shared" / "workloads" / "imagenet-100"

# Variables that could aim a test at a real account or change its settings behind its back.
_AWS_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
             "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION")


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch, tmp_path_factory):
    """Every test runs with fake credentials, no profile and no imgrec settings from the environment."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("IMGREC_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # One model cache per test session: the first test that needs the ONNX bundle exports it (seconds).
    monkeypatch.setenv("IMGREC_MODEL_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))
    # Job journals (resuming `imgrec classify`): a folder of each test's own.
    monkeypatch.setenv("IMGREC_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    # Not an EC2 machine, even on one: the instance metadata service is never asked.
    monkeypatch.setattr("shared.aws.SYS_DIR", tmp_path_factory.getbasetemp() / "no-sys")
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    empty.touch()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


@pytest.fixture(scope="session")
def moto_server():
    """One real moto server subprocess on a free loopback port, shared by the session; stopped at the end."""
    from cloud.local.server import MotoServer

    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def workload_dir() -> Path:
    """The 100-image workload; tests that need it skip when it is not on this machine."""
    if not WORKLOAD_DIR.is_dir() or not any(WORKLOAD_DIR.iterdir()):
        pytest.skip(f"the 100-image workload is not at {WORKLOAD_DIR}")
    return WORKLOAD_DIR


@pytest.fixture(scope="session")
def _reliability_out() -> str | None:
    """IMGREC_RELIABILITY_OUT as the session started (fake_aws_credentials clears IMGREC_* for each test)."""
    from tests.reliability import OUT_ENV

    return os.environ.get(OUT_ENV)


@pytest.fixture
def reliability(request, _reliability_out):
    """Records what a fault-injecting test saw, for docs/RELIABILITY.md: ``reliability.record(fault=...,
    images=N, results=results, seconds=s)``. Writes only when IMGREC_RELIABILITY_OUT is set (bench/reliability.py)."""
    from tests.reliability import Recorder

    return Recorder(request.node.nodeid, _reliability_out)
