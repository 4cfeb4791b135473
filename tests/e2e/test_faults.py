"""Faults injected into a running job: the job loses nothing and duplicates nothing (docs/RELIABILITY.md).

A request delivered twice runs on the session's cloud; the tests that freeze or kill the moto server do it
to a cloud of their own (``own_cloud``), through its server's process handle. Workers killed mid-batch are
in test_pipeline.py.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import pytest

from shared import layout
from shared.job import ENDPOINT_LOST_SECONDS, STOPPED_ANSWERING, JobClient
from shared.result_objects import parse
from shared.s3 import S3Service
from shared.sqs import SQSService

pytestmark = pytest.mark.e2e

RESULT_TIMEOUT = 120.0  # seconds without a new result before a job that should complete gives up
FREEZE_SECONDS = 12.0  # the frozen endpoint
BOUND = ENDPOINT_LOST_SECONDS + 30.0  # every image back after the endpoint died, with slack for a busy machine
STOP_GRACE = 5.0  # workers left with a dead endpoint have nothing to drain


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _assert_labels(results, reference) -> None:
    assert all(r.ok for r in results), [(r.name, r.error) for r in results if not r.ok][:5]
    for r in results:
        assert r.label == reference[r.name]["label"], r.name


class _TwiceOnTheRequestQueue(SQSService):
    """Sends every request message twice, in separate calls: SQS's at-least-once delivery, made certain."""

    def send_batch(self, url, bodies):
        super().send_batch(url, bodies)
        if url == self.url(self.cfg.request_queue):
            super().send_batch(url, bodies)


def _answers_in_s3(cfg, job_id: str) -> Counter:
    """How many answers each request id has across the job's result objects (duplicates kept)."""
    s3 = S3Service(cfg)
    answers: Counter = Counter()
    for key in s3.list_keys(cfg.output_bucket, layout.result_prefix(job_id)):
        what = layout.result_object(job_id, key)
        if what is None:  # not a result object
            continue
        results, problems = parse(*what, s3.get_bytes(cfg.output_bucket, key), job_id)
        assert not problems, problems
        answers.update(r.request_id for r in results)
    return answers


def test_a_request_delivered_twice_comes_back_once(cloud, workload_items, reference, reliability):
    items = workload_items[:30]
    sqs = _TwiceOnTheRequestQueue(cloud.cfg)
    request_queue = sqs.url(cloud.cfg.request_queue)
    started = time.monotonic()
    with JobClient(cloud.cfg, sqs=sqs) as client:
        job = client.submit(items)
        results = list(client.collect(job, timeout=RESULT_TIMEOUT))
        took = time.monotonic() - started
        # Both copies of every request are answered: once the queue is empty, each has two results in S3.
        _wait_for(lambda: sqs.depth(request_queue).total == 0, RESULT_TIMEOUT, "the second copies were not served")
    reliability.record("request delivered twice", images=len(items), results=results,
                       expected=[i.name for i in items], seconds=took,
                       note=f"{2 * len(items)} request messages, every one answered; one result per image")
    answers = _answers_in_s3(cloud.cfg, job.job_id)
    assert len(answers) == len(items) and min(answers.values()) >= 2
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert len({r.request_id for r in results}) == len(items)
    _assert_labels(results, reference)
    # `imgrec results` reads the output bucket alone: still one row per image.
    again = client.recollect(job.job_id)
    assert sorted(r.name for r in again) == sorted(i.name for i in items)


def test_a_moto_server_frozen_for_12_s_mid_job_loses_nothing(own_cloud, workload_items, reference, reliability):
    cloud = own_cloud(2)
    server = cloud.server.process
    items = workload_items[:60]
    thawed = threading.Event()

    def thaw() -> None:
        server.send_signal(signal.SIGCONT)
        thawed.set()

    timer = threading.Timer(FREEZE_SECONDS, thaw)
    frozen = False
    after_thaw = 0
    started = time.monotonic()
    try:
        with JobClient(cloud.cfg) as client:
            job = client.submit(items)
            results = []
            for result in client.collect(job, timeout=RESULT_TIMEOUT):
                results.append(result)
                if thawed.is_set():
                    after_thaw += 1
                if len(results) == 1:  # mid-job: the first batch is answered, the rest are not
                    server.send_signal(signal.SIGSTOP)
                    timer.start()
                    _wait_for(lambda: _process_state(server.pid) == "T", 5, "the moto server did not stop")
                    frozen = True
        took = time.monotonic() - started
    finally:
        timer.cancel()
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)  # a test that failed while it was frozen: let it go on and stop
    reliability.record("moto server frozen for 12 s", images=len(items), results=results,
                       expected=[i.name for i in items], seconds=took,
                       note=f"{after_thaw} of the results came after the thaw")
    assert frozen and thawed.is_set() and after_thaw > 0  # the job went on after the thaw
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert len({r.request_id for r in results}) == len(items)
    _assert_labels(results, reference)


def _process_state(pid: int) -> str:
    """The one-letter state of a process (Linux): "T" when it is stopped."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


def test_a_moto_server_killed_mid_job_gives_every_image_back_in_bounded_time_and_a_fresh_cloud_completes_it(
        own_cloud, workload_items, reference, reliability):
    items = workload_items
    cloud = own_cloud(2)
    started = time.monotonic()
    killed_at = None
    with JobClient(cloud.cfg) as client:
        job = client.submit(items)
        first = []
        for result in client.collect(job, timeout=RESULT_TIMEOUT):  # it must give up long before this
            first.append(result)
            if killed_at is None:
                cloud.server.process.kill()  # SIGKILL: no answer to anything from now on
                cloud.server.process.wait()
                killed_at = time.monotonic()
    gave_back = time.monotonic() - killed_at  # the client closed too: what a user waits for
    first_run = time.monotonic() - started
    cloud.stop(STOP_GRACE)

    # Every image came back once, within a bounded time: labelled, or an error row saying that the endpoint
    # stopped answering (not a bare time-out after the job's 10-minute result timeout).
    assert sorted(r.name for r in first) == sorted(i.name for i in items)
    unanswered = [r for r in first if not r.ok]
    assert unanswered and all(STOPPED_ANSWERING in r.error and cloud.endpoint in r.error for r in unanswered)
    assert gave_back < BOUND

    fresh = own_cloud(2)
    resubmitted = time.monotonic()
    with JobClient(fresh.cfg) as client:
        again = list(client.collect(client.submit(items), timeout=RESULT_TIMEOUT))
    second_run = time.monotonic() - resubmitted
    reliability.record("moto server killed mid-job, resubmitted to a fresh cloud", images=len(items),
                       results=again, expected=[i.name for i in items], seconds=first_run + second_run,
                       note=f"first run: {len(first) - len(unanswered)} labelled, {len(unanswered)} error rows "
                            f"saying the endpoint stopped answering, {gave_back:.0f} s after the kill; then all "
                            "resubmitted")
    assert sorted(r.name for r in again) == sorted(i.name for i in items)
    assert len({r.request_id for r in again}) == len(items)
    _assert_labels(again, reference)
