"""The worker loop against moto (in-process `mock_aws`), with the real model.

Each request gets exactly one answer, in S3 and on its reply queue, and is then deleted; bad input is
an answer too; a malformed body goes to the dead-letter queue; stopping drains.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import defaultdict

import pytest
from moto import mock_aws

from cloud.worker.loop import Worker
from cloud.worker.status import StatusReporter
from shared.config import load_config
from shared.job import new_job_id, recollect
from shared.layout import input_key, new_request_id, reply_queue_name, result_prefix, worker_status_key
from shared.messages import Request, Result
from shared.provision import provision
from shared.result_objects import FORMAT
from shared.s3 import S3Service
from shared.sqs import SQSService
from shared.worker_status import parse_status_line

DEADLINE_SECONDS = 60


@pytest.fixture
def cloud():
    with mock_aws():
        cfg = load_config(env={}, overrides={"wait_time": 1, "visibility_timeout": 30, "batch_size": 4})
        provision(cfg)
        yield cfg


class Client:
    """Just enough of a job client: upload, enqueue with a reply queue of its own, read replies."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.s3 = S3Service(cfg)
        self.sqs = SQSService(cfg)
        self.job_id = new_job_id()
        self.reply_url = self.sqs.create_queue(reply_queue_name(cfg.reply_queue_prefix, self.job_id))
        self.names: dict[str, str] = {}  # request id -> file name

    def submit(self, files: dict[str, bytes]) -> None:
        bodies = []
        for name, data in files.items():
            request_id = new_request_id()
            key = input_key(self.job_id, request_id, ".jpg")
            self.s3.put_bytes(self.cfg.input_bucket, key, data)
            self.names[request_id] = name
            bodies.append(Request(request_id, self.job_id, self.cfg.input_bucket, key, name, self.reply_url).to_json())
        self.sqs.send_batch(self.sqs.url(self.cfg.request_queue), bodies)

    def send_raw(self, body: str) -> None:
        self.sqs.send_batch(self.sqs.url(self.cfg.request_queue), [body])

    def replies(self, count: int) -> list[Result]:
        results: list[Result] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(results) < count and time.monotonic() < deadline:
            messages = self.sqs.receive(self.reply_url, 10, wait=1)
            results += [Result.from_json(m.body) for m in messages]
            if messages:
                self.sqs.delete_batch(self.reply_url, [m.receipt for m in messages])
        return results

    def stored(self) -> dict[str, list[Result]]:
        """Request id -> its results in the output bucket, read from the job's result objects."""
        found: dict[str, list[Result]] = defaultdict(list)
        for key in self.s3.list_keys(self.cfg.output_bucket, result_prefix(self.job_id)):
            data = self.s3.get_json(self.cfg.output_bucket, key)
            assert data["format"] == FORMAT
            for item in data["results"]:
                result = Result.from_dict(item)
                found[result.request_id].append(result)
        return found

    def depth(self, queue: str | None = None):
        return self.sqs.depth(self.sqs.url(queue or self.cfg.request_queue))


@pytest.fixture
def start_worker(cloud, classifier):
    """Starts Worker.run() in a thread; teardown stops it and checks it ended."""
    running = []

    def start(sqs=None, **changes):
        cfg = cloud.replace(**changes) if changes else cloud
        stdout = io.StringIO()
        status = StatusReporter("w1", stdout=stdout, s3=S3Service(cfg), bucket=cfg.output_bucket, refresh=0.5)
        worker = Worker(cfg, classifier, worker_id="w1", status=status, sqs=sqs)
        outcome: dict[str, int] = {}
        thread = threading.Thread(target=lambda: outcome.update(code=worker.run()), name="test-worker")
        thread.start()
        running.append((worker, thread, status))
        worker.outcome, worker.thread, worker.stdout = outcome, thread, stdout
        return worker

    yield start
    for worker, thread, status in running:
        worker.stop()
        thread.join(DEADLINE_SECONDS)
        status.close()
        assert not thread.is_alive(), "the worker did not stop"
        # Every thread it started has ended before mock_aws goes away (none may reach for real AWS).
        assert worker.join(DEADLINE_SECONDS), "a receive thread did not end"


def stop(worker) -> int:
    worker.stop()
    worker.thread.join(DEADLINE_SECONDS)
    assert not worker.thread.is_alive()
    return worker.outcome["code"]


def test_good_and_bad_images_each_get_exactly_one_answer(cloud, start_worker, workload_dir, bad_files):
    client = Client(cloud)
    good = {f"test_{i}.JPEG": (workload_dir / f"test_{i}.JPEG").read_bytes() for i in (2, 3, 10, 25, 7, 8)}
    client.submit({**good, **{name: data for name, (data, _) in bad_files.items()}})
    worker = start_worker()

    results = client.replies(len(client.names))
    assert sorted(r.request_id for r in results) == sorted(client.names)  # each exactly once
    by_name = {r.name: r for r in results}
    assert by_name["test_2.JPEG"].label == "monarch" and by_name["test_10.JPEG"].label == "guacamole"
    for name in good:
        result = by_name[name]
        assert result.ok and len(result.top5) == 5 and result.model == "efficientnet-lite0"
        assert result.worker_id == "w1"
        assert {"submitted", "received", "finished", "download_s", "inference_s"} <= set(result.timings)
        assert result.timings["submitted"] <= result.timings["received"] <= result.timings["finished"]
    for name, (_, reason) in bad_files.items():
        assert by_name[name].error == reason and by_name[name].label is None

    # The same answers are durable in S3, each once, in the job's batch objects.
    assert client.stored() == {result.request_id: [result] for result in results}
    # Every request was deleted once answered.
    wait_until(lambda: client.depth().total == 0)
    assert stop(worker) == 0


def test_a_missing_or_oversized_image_is_answered(cloud, start_worker, good_jpeg):
    client = Client(cloud)
    missing = new_request_id()  # its image was never uploaded
    request = Request(missing, client.job_id, cloud.input_bucket, input_key(client.job_id, missing, ".jpg"), "gone.jpg",
                      client.reply_url)
    client.send_raw(request.to_json())
    client.submit({"big.jpg": good_jpeg})
    start_worker(max_image_bytes=1000)
    errors = {r.name: r.error for r in client.replies(2)}
    assert errors == {"gone.jpg": "image missing from input bucket",
                      "big.jpg": f"image too large: {len(good_jpeg)} bytes (limit 1000)"}
    wait_until(lambda: client.depth().total == 0)


def test_a_malformed_request_goes_to_the_dead_letter_queue(cloud, start_worker, good_jpeg):
    client = Client(cloud)
    client.send_raw("this is not a request")
    client.submit({"after.jpg": good_jpeg})  # and the worker keeps going
    start_worker()
    [result] = client.replies(1)
    assert result.label == "monarch"
    dlq = client.sqs.url(cloud.dead_letter_queue)
    wait_until(lambda: client.depth(cloud.dead_letter_queue).visible == 1)
    [kept] = client.sqs.receive(dlq, 10, wait=0)
    assert kept.body == "this is not a request"
    wait_until(lambda: client.depth().total == 0)


def test_a_result_that_cannot_be_stored_leaves_its_request_for_retry(cloud, start_worker, good_jpeg):
    client = Client(cloud)
    s3 = client.s3.client
    s3.delete_bucket(Bucket=cloud.output_bucket)  # every result write now fails
    client.submit({"a.jpg": good_jpeg, "b.jpg": good_jpeg})
    worker = start_worker()
    wait_until(lambda: worker.batches >= 1)
    assert worker.thread.is_alive()  # the worker keeps going
    # Stopping waits until every batch taken has been published, or has failed to be: by then the
    # worker has had its chance to answer, and it must not have replied with a result it could not store.
    assert stop(worker) == 0
    assert client.sqs.receive(client.reply_url, 10, wait=0) == []
    assert client.depth().total == 2 and worker.processed == 0  # not deleted: they come back for another try


def test_a_reply_queue_that_is_gone_is_not_an_error(cloud, start_worker, good_jpeg):
    client = Client(cloud)
    client.submit({"a.jpg": good_jpeg})
    client.sqs.delete_queue(client.reply_url)  # the client left
    worker = start_worker()
    wait_until(lambda: client.depth().total == 0)
    [request_id] = client.names
    assert client.stored()[request_id][0].label == "monarch"  # durable in S3 all the same
    assert worker.processed == 1


def test_stop_drains_and_gives_back_what_was_not_started(cloud, start_worker, workload_dir):
    client = Client(cloud)
    files = {f"test_{i}.JPEG": (workload_dir / f"test_{i}.JPEG").read_bytes() for i in range(30)}
    client.submit(files)
    worker = start_worker(batch_size=4)
    wait_until(lambda: worker.processed > 0)
    started = time.monotonic()
    assert stop(worker) == 0
    # A correctness bound, not a speed goal: stopping does not wait out the visibility timeout (30 s).
    assert time.monotonic() - started < cloud.visibility_timeout

    answered = {r.request_id for r in client.replies(worker.processed)}
    assert len(answered) == worker.processed
    # Nothing is left hidden: what was received but not started is visible again at once.
    depth = client.depth()
    assert depth.in_flight == 0 and depth.visible == len(files) - worker.processed

    lines = [parse_status_line(line) for line in worker.stdout.getvalue().splitlines()]
    states = [status.state for status in lines]
    assert states[0] == "ready" and "busy" in states and states[-2:] == ["draining", "stopped"]
    assert all(status.worker_id == "w1" and status.ts > 0 for status in lines)
    worker.status.close()
    heartbeat = client.s3.get_json(cloud.output_bucket, worker_status_key("w1"))
    assert heartbeat["state"] == "stopped" and heartbeat["processed"] == worker.processed


def test_the_idle_timeout_ends_the_worker(cloud, start_worker):
    worker = start_worker(idle_timeout=1.5)
    worker.thread.join(DEADLINE_SECONDS)
    assert not worker.thread.is_alive() and worker.outcome["code"] == 0
    assert worker.exit_reason == "idle for 1.5 s"


def wait_until(condition, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_results_serialise_as_the_reply_body(cloud, start_worker, good_jpeg):
    client = Client(cloud)
    client.submit({"a.jpg": good_jpeg})
    start_worker()
    [result] = client.replies(1)
    assert json.loads(result.to_json())["top5"][0] == ["monarch", result.score]


def test_a_request_answered_again_after_a_lost_delete_is_read_back_once(cloud, start_worker, good_jpeg):
    """The worker wrote the result, but the delete did not happen (as if it died just then): the
    request comes back and is answered again in a second object; reading back gives it once."""

    class FirstDeleteLost(SQSService):
        lost = 0

        def delete_batch(self, url, receipts):
            if self.lost == 0 and url.endswith(cloud.request_queue):
                self.lost += 1
                return
            super().delete_batch(url, receipts)

    client = Client(cloud)
    client.submit({"a.jpg": good_jpeg})
    start_worker(sqs=FirstDeleteLost(cloud), visibility_timeout=2, heartbeat_interval=0.5)
    replies = client.replies(2)
    [request_id] = client.names
    assert [r.request_id for r in replies] == [request_id] * 2  # answered twice...
    wait_until(lambda: client.depth().total == 0)
    assert [len(found) for found in client.stored().values()] == [2]  # ...in two objects
    [result] = recollect(cloud, client.job_id)  # ...and read back once
    assert result.request_id == request_id and result.label == "monarch"
