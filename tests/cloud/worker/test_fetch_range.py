"""A request's image is a byte range of an input pack: read with one ranged GET, guarded before it."""

from __future__ import annotations

import io

import pytest
from moto import mock_aws
from PIL import Image

from cloud.worker.admission import Admission
from cloud.worker.fetch import InputError, fetch
from shared import layout
from shared.config import Config, load_config
from shared.job import new_job_id
from shared.messages import Request
from shared.provision import provision
from shared.s3 import S3Service

ACCOUNT = "123456789012"
QUEUES = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/"


def png(color: tuple[int, int, int], size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def request_for(job_id: str, key: str, offset: int | None, length: int | None, bucket="imgrec-input") -> Request:
    return Request(request_id=layout.new_request_id(), job_id=job_id, bucket=bucket, key=key, name="a.png",
                   reply_queue=f"{QUEUES}imgrec-replies-laptop", offset=offset, length=length)


@pytest.fixture
def cloud():
    with mock_aws():
        cfg = Config(wait_time=0)
        provision(cfg)
        yield cfg, S3Service(cfg)


def test_each_range_of_a_pack_is_its_own_image(cloud):
    cfg, s3 = cloud
    images = [png((255, 0, 0)), png((0, 255, 0), (20, 50)), png((0, 0, 255))]
    job_id = new_job_id()
    key = layout.pack_key(job_id, 0)
    s3.put_bytes(cfg.input_bucket, key, b"".join(images))
    offset = 0
    for data in images:
        request = request_for(job_id, key, offset, len(data), cfg.input_bucket)
        fetched = fetch(s3, cfg, request, prepare=lambda image: (image.size, image.getpixel((0, 0))))
        with Image.open(io.BytesIO(data)) as expected:
            assert fetched.prepared == (expected.size, expected.convert("RGB").getpixel((0, 0)))
        offset += len(data)


class NoReads:
    def get_bytes(self, *args, **kwargs):
        raise AssertionError("read the input although its range is over the limit")


def test_a_range_over_max_image_bytes_is_refused_without_reading():
    cfg = Config(max_image_bytes=1000)
    job_id = new_job_id()
    with pytest.raises(InputError) as refused:
        fetch(NoReads(), cfg, request_for(job_id, layout.pack_key(job_id, 0), 5, 1001), prepare=lambda i: i)
    assert refused.value.reason == "image too large: 1001 bytes (limit 1000)"


@pytest.mark.parametrize(("offset", "length"), [(100, 500), (10_000, 5)])  # ends past the pack; starts past it
def test_a_range_the_pack_does_not_hold_is_an_answer_not_a_retry(cloud, offset, length):
    cfg, s3 = cloud
    job_id = new_job_id()
    key = layout.pack_key(job_id, 0)
    s3.put_bytes(cfg.input_bucket, key, png((1, 2, 3)) * 2)
    with pytest.raises(InputError) as answered:
        fetch(s3, cfg, request_for(job_id, key, offset, length, cfg.input_bucket), prepare=lambda i: i)
    assert answered.value.reason.startswith("truncated or corrupt image")
    assert f"of its {length} bytes" in answered.value.reason


def test_a_request_without_a_range_still_reads_the_whole_object(cloud):
    cfg, s3 = cloud
    job_id, rid = new_job_id(), layout.new_request_id()
    key = layout.input_key(job_id, rid, ".png")
    s3.put_bytes(cfg.input_bucket, key, png((9, 9, 9)))
    request = Request(request_id=rid, job_id=job_id, bucket=cfg.input_bucket, key=key, name="a.png",
                      reply_queue=f"{QUEUES}imgrec-replies-laptop")
    assert fetch(s3, cfg, request, prepare=lambda image: image.size).prepared == (40, 30)


# --- admission of pack keys -----------------------------------------------------------------------
@pytest.fixture
def admission():
    cfg = load_config(env={})
    return Admission(cfg, f"{QUEUES}{cfg.request_queue}")


def test_the_jobs_own_packs_are_admitted_with_a_range(admission):
    job_id = new_job_id()
    assert admission.refusal(request_for(job_id, layout.pack_key(job_id, 0), 0, 100)) is None
    assert admission.refusal(request_for(job_id, layout.pack_key(job_id, 41), 12_345, 1)) is None


@pytest.mark.parametrize(("key", "offset", "length", "reason"), [
    ("{other}pack-0", 0, 10, "is not under the job's input prefix"),
    ("{own}pack-0", None, None, "is an input pack but the request names no byte range in it"),
    ("{own}pack-01", 0, 10, "is not the input key of request"),
    ("{own}pack-0/x", 0, 10, "is not the input key of request"),
    ("{own}pack-", 0, 10, "is not the input key of request"),
    ("{own}manifest.json", 0, 10, "is not the input key of request"),
])
def test_anything_else_under_a_job_is_refused(admission, key, offset, length, reason):
    job_id = new_job_id()
    key = key.format(own=layout.job_prefix(job_id), other=layout.job_prefix(new_job_id()))
    assert reason in admission.refusal(request_for(job_id, key, offset, length))
