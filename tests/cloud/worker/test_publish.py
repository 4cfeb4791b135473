"""The publisher: one result object per job in a batch, then replies, then deletes; a job whose object
cannot be written has its requests retried, and only those."""

from __future__ import annotations

import json
from concurrent.futures import Future

from cloud.worker.inbox import Work
from cloud.worker.publish import Publisher
from cloud.worker.visibility import Heartbeat
from shared import layout
from shared.messages import Request, Result
from shared.result_objects import FORMAT
from shared.sqs import Message


class FakeS3:
    def __init__(self, failing_jobs=()):
        self.objects: dict[str, bytes] = {}
        self.failing_jobs = set(failing_jobs)

    def put_bytes(self, bucket, key, data, content_type="application/octet-stream"):
        if any(key.startswith(layout.result_prefix(job)) for job in self.failing_jobs):
            raise OSError("S3 is unreachable for this one")
        self.objects[key] = data


class FakeSQS:
    def __init__(self):
        self.replies: list[str] = []
        self.deleted: list[str] = []
        self.released: list[str] = []

    def send_batch(self, url, bodies):
        self.replies.extend(bodies)

    def delete_batch(self, url, receipts):
        self.deleted.extend(receipts)

    def change_visibility_batch(self, url, receipts, timeout):
        self.released.extend(receipts)


def answer(job_id: str, n: int) -> tuple[Work, Result]:
    rid = layout.new_request_id()
    request = Request(rid, job_id, "in", f"jobs/{job_id}/{rid}.jpg", f"{n}.jpg", "reply-url")
    work = Work(message=Message(rid, f"receipt-{rid}", request.to_json(), 1), request=request,
                received=0.0, fetch=Future())
    return work, Result(rid, job_id, f"{n}.jpg", label="monarch", score=0.9, worker_id="w1")


def publish(s3, sqs, answers) -> int:
    heartbeat = Heartbeat(sqs, "request-url", 30, 10)  # never started: no beats, only track/release
    heartbeat.track(work.receipt for work, _ in answers)
    publisher = Publisher(s3, sqs, "out", "request-url", heartbeat)
    try:
        return publisher.submit(answers).result()
    finally:
        publisher.close()


def test_a_batch_is_one_object_per_job_holding_all_its_results():
    answers = [answer("job-a", i) for i in range(7)] + [answer("job-b", i) for i in range(3)]
    s3, sqs = FakeS3(), FakeSQS()
    assert publish(s3, sqs, answers) == 10
    assert len(s3.objects) == 2  # not 10
    stored = {}
    for key, body in s3.objects.items():
        data = json.loads(body)
        assert data["format"] == FORMAT
        job_id = data["results"][0]["job_id"]
        kind, _ = layout.result_object(job_id, key)
        assert kind == layout.RESULT_BATCH
        stored[job_id] = {r["request_id"] for r in data["results"]}
    assert stored == {"job-a": {w.request.request_id for w, r in answers[:7]},
                      "job-b": {w.request.request_id for w, r in answers[7:]}}
    assert len(sqs.replies) == 10 and sorted(sqs.deleted) == sorted(w.receipt for w, _ in answers)


def test_two_batches_of_one_job_never_share_an_object():
    s3, sqs = FakeS3(), FakeSQS()
    publish(s3, sqs, [answer("job-a", 1)])
    publish(s3, sqs, [answer("job-a", 2)])
    assert len(s3.objects) == 2


def test_a_job_whose_object_cannot_be_written_is_retried_alone():
    good = [answer("job-a", i) for i in range(4)]
    bad = [answer("job-b", i) for i in range(3)]
    s3, sqs = FakeS3(failing_jobs={"job-b"}), FakeSQS()
    assert publish(s3, sqs, good + bad) == 4
    assert sorted(sqs.deleted) == sorted(w.receipt for w, _ in good)
    assert sorted(sqs.released) == sorted(w.receipt for w, _ in bad)  # visible again, answered again later
    replied = {json.loads(body)["request_id"] for body in sqs.replies}
    assert replied == {w.request.request_id for w, _ in good}  # no reply for what is not durable
