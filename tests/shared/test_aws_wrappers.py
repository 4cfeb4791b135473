"""The thin S3/SQS wrappers against moto: batches over 10, depth, guarded reads, uploads."""

import pytest
from moto import mock_aws

from shared.config import load_config
from shared.provision import provision
from shared.s3 import ObjectMissing, ObjectTooLarge, S3Service, Upload
from shared.sqs import SQSService


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


def test_cancel_stops_new_uploads(cfg, tmp_path):
    s3 = S3Service(cfg)
    paths = []
    for i in range(5):
        (tmp_path / f"{i}").write_bytes(b"x")
        paths.append(Upload(str(tmp_path / f"{i}"), cfg.input_bucket, f"c/{i}"))
    done = []
    s3.upload_many(paths, lambda u, e: done.append(u), cancelled=lambda: True)
    assert done == []
