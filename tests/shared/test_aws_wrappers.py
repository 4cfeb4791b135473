"""The thin S3/SQS wrappers against moto: batches over 10, depth, guarded reads, uploads; a 403 read as
missing where that is expected; bucket names and region for a new account; telling an EC2 host."""

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from moto import mock_aws

from shared import aws
from shared.config import ConfigError, load_config
from shared.provision import provision
from shared.s3 import ObjectMissing, ObjectTooLarge, S3Service, Upload
from shared.sqs import SQSService
from tests.shared.s3_answers import deny_reads


@pytest.fixture
def cfg(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        cfg = load_config(env={})
        provision(cfg)
        yield cfg


def test_send_batch_splits_into_tens_and_depth_counts_visible_and_in_flight(cfg):
    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    sqs.send_batch(url, [f"m{i}" for i in range(23)])
    assert sqs.depth(url).visible == 23
    got = sqs.receive(url, max_messages=10, wait=0)
    assert len(got) == 10 and all(m.receive_count == 1 for m in got)
    depth = sqs.depth(url)
    assert (depth.visible, depth.in_flight, depth.total) == (13, 10, 23)
    sqs.delete_batch(url, [m.receipt for m in got])
    assert sqs.depth(url).total == 13


def test_a_missing_queue_is_reported(cfg):
    sqs = SQSService(cfg)
    assert sqs.exists(cfg.request_queue)
    assert not sqs.exists("no-such-queue")


def test_uploads_report_each_file_once_and_reads_are_guarded(cfg, tmp_path):
    s3 = S3Service(cfg)
    files = []
    for i in range(25):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes([i]) * (100 + i))
        files.append(Upload(str(path), cfg.input_bucket, f"k/{i}"))
    done = []
    s3.upload_many(files, lambda upload, error: done.append((upload.key, error)))
    assert sorted(k for k, _ in done) == sorted(u.key for u in files) and all(e is None for _, e in done)
    assert s3.get_bytes(cfg.input_bucket, "k/3") == bytes([3]) * 103
    with pytest.raises(ObjectTooLarge):
        s3.get_bytes(cfg.input_bucket, "k/3", max_bytes=10)
    with pytest.raises(ObjectMissing):
        s3.get_bytes(cfg.input_bucket, "k/none")
    assert len(list(s3.list_keys(cfg.input_bucket, "k/"))) == 25


def test_an_upload_of_a_vanished_file_is_an_error_not_a_crash(cfg, tmp_path):
    s3 = S3Service(cfg)
    done = []
    s3.upload_many([Upload(str(tmp_path / "gone.jpg"), cfg.input_bucket, "k/gone")],
                   lambda upload, error: done.append(error))
    assert len(done) == 1 and done[0] is not None


# --- a 403 for a missing object ------------------------------------------------------------------

def test_a_denied_read_is_missing_only_where_missing_is_an_expected_answer(cfg):
    s3 = S3Service(cfg)
    s3.put_json(cfg.output_bucket, "workers/i-1.json", {"state": "idle"})
    asked = deny_reads(s3.client)  # a reader without s3:ListBucket: S3 answers 403 for a missing key
    with pytest.raises(ObjectMissing, match="may not be read"):
        s3.get_json(cfg.output_bucket, "workers/i-2.json", denied_is_missing=True)
    with pytest.raises(ClientError, match="AccessDenied"):  # anywhere else a 403 stays visible
        s3.get_bytes(cfg.output_bucket, "workers/i-1.json")
    tolerant = S3Service(cfg, client=s3.client, denied_is_missing=True)
    with pytest.raises(ObjectMissing):
        tolerant.get_json(cfg.output_bucket, "workers/i-1.json")
    with pytest.raises(ClientError, match="AccessDenied"):
        tolerant.get_json(cfg.output_bucket, "workers/i-1.json", denied_is_missing=False)
    assert asked == ["workers/i-2.json"] + ["workers/i-1.json"] * 3  # 403s are not retried


# --- bucket names and region for a new account ---------------------------------------------------

def test_bucket_names_not_given_are_derived_from_the_account_and_region(cfg):
    eu = cfg.replace(source="environment AWS_REGION", region="eu-west-1")
    derived = aws.with_account_defaults(eu)
    assert (derived.input_bucket, derived.output_bucket) == ("imgrec-input-123456789012-eu-west-1",
                                                             "imgrec-output-123456789012-eu-west-1")
    assert derived.source_of("input_bucket") == "AWS account 123456789012 in eu-west-1"
    assert aws.with_account_defaults(derived) == derived  # once is enough
    # A name the user gave is kept; only the other is derived.
    mine = aws.with_account_defaults(eu.replace(source="config file x", output_bucket="my-results"))
    assert (mine.input_bucket, mine.output_bucket) == ("imgrec-input-123456789012-eu-west-1", "my-results")
    # An endpoint (a moto server, `imgrec up`) keeps the plain names, and STS is not asked.
    local = cfg.replace(endpoint_url="http://127.0.0.1:9")
    assert aws.with_account_defaults(local, sts=object()) == local


def test_an_unreadable_account_is_a_configuration_error_naming_the_settings(cfg):
    class NoCredentials:
        def get_caller_identity(self):
            raise NoCredentialsError()

    with pytest.raises(ConfigError, match=r"input_bucket and output_bucket not set.*set input_bucket and "
                                          r"output_bucket, or fix the AWS credentials"):
        aws.with_account_defaults(cfg, sts=NoCredentials())


def test_clients_use_the_region_of_the_aws_profile(tmp_path):
    (tmp_path / "aws-config").write_text("[default]\nregion = ap-southeast-2\n")
    cfg = load_config(env={"AWS_CONFIG_FILE": str(tmp_path / "aws-config")})
    assert aws.client(cfg, "sqs").meta.region_name == "ap-southeast-2"


# --- is this an EC2 instance? --------------------------------------------------------------------

@pytest.mark.parametrize(("path", "text", "expected"), [
    ("hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n", True),  # a Xen instance
    ("class/dmi/id/sys_vendor", "Amazon EC2\n", True),  # a Nitro instance
    ("class/dmi/id/sys_vendor", "QEMU\n", False),
    ("hypervisor/uuid", "5f1c3f0e-0000-0000-0000-000000000000\n", False),
    (None, None, False),  # nothing readable
])
def test_an_ec2_host_is_told_by_local_files(tmp_path, path, text, expected):
    if path:
        (tmp_path / path).parent.mkdir(parents=True)
        (tmp_path / path).write_text(text)
    assert aws.on_ec2(tmp_path) is expected
