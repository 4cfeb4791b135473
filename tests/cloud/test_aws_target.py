"""Whether `imgrec classify` has an AWS target: on an EC2 instance with only an instance role it does;
elsewhere the EC2 metadata service is never asked. The host is told by fake /sys files, and the
metadata provider is replaced: no test reaches 169.254.169.254."""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials, InstanceMetadataProvider

from cloud.client_commands import has_aws_target
from shared import aws
from shared.config import load_config


@pytest.fixture
def metadata_service(monkeypatch):
    """No credentials anywhere but (maybe) an instance role; returns the calls made to the metadata provider."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def load(provider):
        fetcher = provider._role_fetcher  # noqa: SLF001 - the timeout it would wait with
        calls.append((fetcher._timeout, fetcher._num_attempts))  # noqa: SLF001
        return Credentials("role-key", "role-secret", "role-token", method="iam-role")

    monkeypatch.setattr(InstanceMetadataProvider, "load", load)
    return calls


def host(monkeypatch, tmp_path, vendor: str) -> None:
    (tmp_path / "class" / "dmi" / "id").mkdir(parents=True)
    (tmp_path / "class" / "dmi" / "id" / "sys_vendor").write_text(vendor + "\n")
    monkeypatch.setattr(aws, "SYS_DIR", tmp_path)


def test_on_an_ec2_instance_an_instance_role_is_an_aws_target(monkeypatch, tmp_path, metadata_service):
    host(monkeypatch, tmp_path, "Amazon EC2")
    assert has_aws_target(load_config(env={}))
    assert metadata_service == [(1, 1)]  # asked once, with a one-second timeout


def test_elsewhere_the_metadata_service_is_not_asked(monkeypatch, tmp_path, metadata_service):
    host(monkeypatch, tmp_path, "LENOVO")
    assert not has_aws_target(load_config(env={}))
    assert metadata_service == []


def test_a_region_read_from_the_aws_profile_alone_is_no_target(monkeypatch, tmp_path, metadata_service):
    host(monkeypatch, tmp_path, "LENOVO")
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = eu-west-1\n")
    cfg = load_config(env={"AWS_CONFIG_FILE": str(config)})
    assert cfg.region == "eu-west-1" and not has_aws_target(cfg)
    assert has_aws_target(load_config(env={"AWS_REGION": "eu-west-1"}))  # a region the user set is
