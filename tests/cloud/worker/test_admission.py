"""A worker acts only on requests that name this project's things (issue 8).

A request naming a bucket or queue that exists, and that the worker's credentials reach, but that is
not ours, is dead-lettered with the reason: nothing is read from it or sent to it, and the good
requests beside it are still answered.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid

import pytest

from cloud.worker.admission import Admission
from cloud.worker.loop import Worker
from cloud.worker.status import StatusReporter
from shared import layout
from shared.config import load_config
from shared.job import new_job_id
from shared.messages import Request, Result
from shared.provision import provision
from shared.s3 import S3Service
from shared.sqs import SQSService

DEADLINE_SECONDS = 60
ACCOUNT = "123456789012"
AWS_QUEUES = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/"


# --- the checks themselves --------------------------------------------------------------------
@pytest.fixture
def admission():
    cfg = load_config(env={})
    return Admission(cfg, f"{AWS_QUEUES}{cfg.request_queue}")


def good_request(**changes) -> Request:
    job_id, request_id = new_job_id(), layout.new_request_id()
    fields = dict(request_id=request_id, job_id=job_id, bucket="imgrec-input",
                  key=layout.input_key(job_id, request_id, ".JPG"), name="cats/tom.jpg",
                  reply_queue=f"{AWS_QUEUES}imgrec-replies-laptop-42-abc123")
    return Request(**{**fields, **changes})


def test_ids_of_the_shapes_clients_make_or_made_are_admitted(admission):
    assert layout.JOB_ID.fullmatch(new_job_id())  # what every client makes now
    assert admission.refusal(good_request()) is None
    earlier_desktop_job = uuid.uuid4().hex[:12]  # desktop builds before new_job_id: their requests may be queued
    assert not layout.JOB_ID.fullmatch(earlier_desktop_job)
    request_id = layout.new_request_id()
    assert admission.refusal(good_request(job_id=earlier_desktop_job, request_id=request_id,
                                          key=layout.input_key(earlier_desktop_job, request_id))) is None


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("job_id", "../../x", "job id '../../x' is not a job id"),
    ("job_id", "20240101-120000-abcdef/..", "job id '20240101-120000-abcdef/..' is not a job id"),
    ("request_id", "r1", "request id 'r1' is not a request id"),
    ("request_id", "0123456789abcdef\n", "request id '0123456789abcdef\\n' is not a request id"),
    ("bucket", "other", "bucket 'other' is not the input bucket"),
    ("key", "jobs/20240101-120000-abcdef/x.jpg", "key 'jobs/20240101-120000-abcdef/x.jpg' is not under the "
                                                 "job's input prefix"),
    ("reply_queue", "https://sqs.eu-west-1.amazonaws.com/999999999999/imgrec-replies-x",
     "reply queue 'https://sqs.eu-west-1.amazonaws.com/999999999999/imgrec-replies-x' is not in this "
     "project's account"),
    ("reply_queue", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/imgrec-replies-x",
     f"reply queue 'https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/imgrec-replies-x' is not on this "
     "project's SQS endpoint"),  # another region
    ("reply_queue", f"http://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/imgrec-replies-x",
     f"reply queue 'http://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/imgrec-replies-x' is not on this "
     "project's SQS endpoint"),
    ("reply_queue", f"https://evil.example/{ACCOUNT}/imgrec-replies-x",
     f"reply queue 'https://evil.example/{ACCOUNT}/imgrec-replies-x' is not on this project's SQS endpoint"),
    ("reply_queue", f"{AWS_QUEUES}payments", f"reply queue '{AWS_QUEUES}payments' is not a reply queue "
                                             "(named imgrec-replies-…)"),
    ("reply_queue", f"{AWS_QUEUES}imgrec-requests", f"reply queue '{AWS_QUEUES}imgrec-requests' is not a "
                                                    "reply queue (named imgrec-replies-…)"),
])
def test_a_request_naming_anything_else_is_refused_with_the_field(admission, field, value, reason):
    assert admission.refusal(good_request(**{field: value})) == reason


@pytest.mark.parametrize("key", [
    "jobs/{job}/../{rid}.jpg", "jobs/{job}/{rid}.jpg/..", "jobs/{job}/{rid}/x.jpg", "jobs/{job}/{other}.jpg",
    "jobs/{job}/{rid}.j pg", "jobs/{job}/{rid}.jpg\n", "jobs/{job}/{rid}.jpeg.exe1", "jobs/{job}/{rid}..",
])
def test_the_key_must_be_the_requests_own_input(admission, key):
    request = good_request()
    bad = key.format(job=request.job_id, rid=request.request_id, other=layout.new_request_id())
    refusal = admission.refusal(good_request(job_id=request.job_id, request_id=request.request_id, key=bad))
    assert refusal == f"key {bad!r} is not the input key of request {request.request_id}"


@pytest.mark.parametrize("url", [
    f"{AWS_QUEUES}imgrec-replies-x?Action=DeleteQueue", f"{AWS_QUEUES}imgrec-replies-x#",
    f"{AWS_QUEUES}imgrec-replies-x/more", f"{AWS_QUEUES}imgrec-replies-%2e%2e",
    f"https://me@sqs.eu-west-1.amazonaws.com/{ACCOUNT}/imgrec-replies-x", "imgrec-replies-x", "http://[::1",
    f"{AWS_QUEUES}imgrec-replies-" + "x" * 80,
])
def test_a_reply_queue_must_be_a_plain_queue_url_of_ours(admission, url):
    assert admission.refusal(good_request(reply_queue=url)).startswith("reply queue ")


# --- a worker against a real moto server --------------------------------------------------------
@pytest.fixture
def cloud(moto_server):
    uid = uuid.uuid4().hex[:8]
    cfg = moto_server.config(load_config(env={})).replace(
        input_bucket=f"imgrec-in-{uid}", output_bucket=f"imgrec-out-{uid}", request_queue=f"requests-{uid}",
        dead_letter_queue=f"requests-dlq-{uid}", wait_time=1, visibility_timeout=30, batch_size=8)
    provision(cfg)
    return cfg


class Calls:
    """What a boto3 client was asked to do, seen through botocore's own event hooks."""

    def __init__(self, client, *operations: str):
        self.seen: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        for operation in operations:
            client.meta.events.register(f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}"
                                        f".{operation}", self._record)

    def _record(self, params, model, **_):
        with self._lock:
            self.seen.append((model.name, dict(params)))

    def of(self, name: str) -> list[dict]:
        with self._lock:
            return [params for op, params in self.seen if op == name]


def wait_until(condition, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_requests_naming_foreign_things_are_dead_lettered_unread_and_the_good_one_answered(
        cloud, moto_server, classifier, good_jpeg, caplog, reliability):
    caplog.set_level(logging.WARNING, logger="cloud.worker.receiver")
    s3, sqs = S3Service(cloud), SQSService(cloud)
    uid = uuid.uuid4().hex[:8]
    reply_name = layout.reply_queue_name(cloud.reply_queue_prefix, f"client-{uid}")
    reply_url = sqs.create_queue(reply_name)
    job_id = new_job_id()

    def uploaded(bucket: str = cloud.input_bucket, job: str = job_id) -> tuple[str, str]:
        request_id = layout.new_request_id()
        key = layout.input_key(job, request_id, ".jpg")
        s3.put_bytes(bucket, key, good_jpeg)
        return request_id, key

    def request(request_id: str, key: str, **changes) -> Request:
        fields = dict(request_id=request_id, job_id=job_id, bucket=cloud.input_bucket, key=key,
                      name=f"{request_id}.jpg", reply_queue=reply_url)
        return Request(**{**fields, **changes})

    # Things that exist on the same endpoint, that the worker's credentials reach, but are not ours.
    foreign_bucket = f"someone-elses-{uid}"
    s3.client.create_bucket(Bucket=foreign_bucket)
    foreign_url = sqs.create_queue(f"someone-elses-{uid}")
    another_job = new_job_id()[:-6] + "fedcba"

    good = request(*uploaded())
    refused = {
        "bucket": request(*uploaded(foreign_bucket), bucket=foreign_bucket),
        "reply queue": request(*uploaded(), reply_queue=foreign_url),
        "job id": request(*uploaded(), job_id="../../x"),
        "key": request(*uploaded(job=another_job)),  # another job's image, under our job id
        "host": request(*uploaded(), reply_queue=reply_url.replace("127.0.0.1", "localhost")),
        "account": request(*uploaded(), reply_queue=reply_url.replace(f"/{ACCOUNT}/", "/111111111111/")),
    }
    assert f"/{ACCOUNT}/" in reply_url and "127.0.0.1" in reply_url
    sqs.send_batch(sqs.url(cloud.request_queue), [good.to_json(), *(r.to_json() for r in refused.values())])

    worker_s3, worker_sqs = S3Service(cloud), SQSService(cloud)
    reads = Calls(worker_s3.client, "GetObject", "HeadObject")
    sends = Calls(worker_sqs.client, "SendMessage", "SendMessageBatch")
    status = StatusReporter("w-admission", stdout=io.StringIO())
    worker = Worker(cloud, classifier, worker_id="w-admission", s3=worker_s3, sqs=worker_sqs, status=status)
    thread = threading.Thread(target=worker.run, name="test-worker")
    started = time.monotonic()
    thread.start()
    try:
        replies: list[Result] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not replies and time.monotonic() < deadline:
            messages = sqs.receive(reply_url, 10, wait=1)
            replies += [Result.from_json(m.body) for m in messages]
        dlq = sqs.url(cloud.dead_letter_queue)
        wait_until(lambda: sqs.depth(dlq).visible == len(refused))
        wait_until(lambda: sqs.depth(sqs.url(cloud.request_queue)).total == 0)
        took = time.monotonic() - started
    finally:
        worker.stop()
        thread.join(DEADLINE_SECONDS)
        status.close()
        assert not thread.is_alive() and worker.join(DEADLINE_SECONDS)

    # The good request, in the same batch, is answered; the refused ones are not answered anywhere.
    assert [(r.request_id, r.label) for r in replies] == [(good.request_id, "monarch")]
    assert sqs.receive(reply_url, 10, wait=0) == []
    assert sqs.depth(foreign_url).total == 0
    sent_to = {params["QueueUrl"] for params in sends.of("SendMessageBatch") + sends.of("SendMessage")}
    assert sent_to == {reply_url, dlq}
    # Only the good request's image was read: nothing from the foreign bucket, nor any refused key.
    assert {(p["Bucket"], p["Key"]) for p in reads.of("GetObject")} == {(cloud.input_bucket, good.key)}
    assert reads.of("HeadObject") == []
    # Each refused request is kept in the dead-letter queue as it came, with its reason in the log.
    kept = []
    while batch := sqs.receive(dlq, 10, wait=0):
        kept += [m.body for m in batch]
        sqs.delete_batch(dlq, [m.receipt for m in batch])
    kept_names = [Request.from_json(body).name for body in kept]
    for fault, kinds in (("request naming a foreign bucket", ["bucket"]),
                         ("request naming a foreign reply queue", ["reply queue", "host", "account"]),
                         ("request with bad ids", ["job id", "key"])):
        names = [refused[kind].name for kind in kinds]
        reliability.record(fault, images=len(names), results=[r for r in replies if r.name in names],
                           expected=names, dead_lettered=[n for n in kept_names if n in names], seconds=took,
                           note="reason logged; nothing read from or sent to it; the good request beside it answered")
    assert sorted(kept) == sorted(r.to_json() for r in refused.values())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"refused: bucket {foreign_bucket!r} is not the input bucket" in logged
    assert f"refused: reply queue {foreign_url!r} is not a reply queue" in logged
    assert "refused: job id '../../x' is not a job id" in logged
    assert f"refused: key {refused['key'].key!r} is not under the job's input prefix" in logged
    assert "is not on this project's SQS endpoint" in logged and "is not in this project's account" in logged
