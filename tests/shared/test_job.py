"""The job client against moto (`mock_aws`, tests/shared/conftest.py), with a stand-in worker that
answers like the real one (tests/shared/fake_worker.py)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

import pytest
from moto import mock_aws

from shared import layout
from shared.config import Config
from shared.job import CANCELLED_BEFORE_ENQUEUE, TIMED_OUT, JobClient, JobError, count_results
from shared.job_manifest import IN_PROGRESS
from shared.messages import Result
from shared.result_objects import batch_body
from shared.s3 import S3Service
from shared.scan import Skipped
from shared.sqs import SQSService
from tests.shared.fake_worker import FakeWorker, collect_all, result_objects


def test_every_item_comes_back_once_with_its_name(cfg, photos):
    items = photos(23)
    with JobClient(cfg) as client:
        uploaded = []
        job = client.submit(items, on_uploaded=lambda item, n, b: uploaded.append((item.name, n, b)))
        assert len(uploaded) == 23 and max(n for _, n, _ in uploaded) == 23
        assert max(b for _, _, b in uploaded) == sum(i.size for i in items)
        assert len(job.requests) == 23 and job.upload_errors == []
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert all(r.ok and r.label == f"label-of-{r.name}" for r in results)


def test_requests_point_at_uploaded_objects_and_this_clients_queue(cfg, photos):
    items = photos(3)
    worker = FakeWorker(cfg)
    with JobClient(cfg) as client:
        job = client.submit(items)
        worker.serve()
        collect_all(client, job)
        assert {r.reply_queue for r in worker.seen} == {client.reply_url}
    keys = {r.key for r in worker.seen}
    assert keys == {layout.pack_key(job.job_id, 0)}  # three files, one pack
    assert all(len(r.to_json().encode()) < 1024 for r in worker.seen)


def test_two_clients_get_only_their_own_results(cfg, photos, tmp_path):
    items_a = photos(12, "a")
    items_b = photos(7, "b")
    with JobClient(cfg, client_id="alice") as alice, JobClient(cfg, client_id="bob") as bob:
        assert alice.reply_url != bob.reply_url
        job_a = alice.submit(items_a)
        job_b = bob.submit(items_b)
        FakeWorker(cfg).serve()
        got_a = collect_all(alice, job_a)
        got_b = collect_all(bob, job_b)
    assert {r.job_id for r in got_a} == {job_a.job_id} and len(got_a) == 12
    assert {r.job_id for r in got_b} == {job_b.job_id} and len(got_b) == 7


def test_a_duplicated_reply_counts_once(cfg, photos):
    items = photos(5)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(duplicate={items[0].name, items[3].name})
        seen: list[Result] = []
        results = list(client.collect(job, on_result=seen.append, timeout=10.0))
        # The duplicates were received and consumed too (deleted from the reply queue)...
        sqs, deadline = SQSService(cfg), time.monotonic() + 10
        while sqs.depth(client.reply_url).total:
            assert time.monotonic() < deadline, "the duplicate replies were never consumed"
            time.sleep(0.05)
    # ...and none showed up: each request was yielded, and reported, exactly once.
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert len({r.request_id for r in results}) == len(items)
    assert [r.request_id for r in seen] == [r.request_id for r in results]


def test_a_lost_reply_is_recovered_from_s3(cfg, photos):
    items = photos(6)
    lost = {items[1].name, items[4].name}
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(lose_reply=lost)
        started = time.monotonic()
        results = collect_all(client, job, timeout=3.0)
        elapsed = time.monotonic() - started
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert all(r.ok for r in results)
    assert elapsed < 3.0  # recovered at the first stall, well before the timeout


def test_unanswered_requests_time_out_as_error_rows(cfg, photos):
    items = photos(4)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(ignore={items[2].name})
        results = collect_all(client, job, timeout=1.0)
    by_name = {r.name: r for r in results}
    assert len(results) == 4
    assert by_name[items[2].name].error == TIMED_OUT
    assert sum(r.ok for r in results) == 3


def test_a_malformed_reply_is_dropped_not_a_crash(cfg, photos):
    items = photos(3)
    with JobClient(cfg) as client:
        SQSService(cfg).send_batch(client.reply_url, ["not json", '{"v": 99}', '{"v": 1, "job_id": 3}'])
        job = client.submit(items)
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    assert len(results) == 3 and all(r.ok for r in results)


def test_a_file_that_vanished_before_upload_is_an_error_row(cfg, photos):
    items = photos(3)
    items[1].path.unlink()
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    assert [r.name for r in job.upload_errors] == [items[1].name]
    assert job.upload_errors[0].error.startswith("upload failed")
    assert len(results) == 3 and sum(r.ok for r in results) == 2


def test_cancel_enqueues_nothing_more_and_reports_the_rest(cfg, photos):
    items = photos(30)
    stop = threading.Event()

    def on_uploaded(item, files_done, _bytes):
        if files_done >= 5:
            stop.set()

    with JobClient(cfg) as client:
        job = client.submit(items, on_uploaded=on_uploaded, cancelled=stop.is_set)
        assert job.cancelled
        queued = FakeWorker(cfg).serve()
        results = collect_all(client, job)
    assert queued == len(job.requests) < 30  # only what was enqueued reached the queue
    assert len(results) == 30 and len({r.request_id for r in results}) == 30
    assert sum(r.ok for r in results) == len(job.requests)
    errors = {r.error for r in results if not r.ok}
    assert errors <= {CANCELLED_BEFORE_ENQUEUE, "cancelled before upload"} and errors


def test_window_keeps_the_queue_short_and_the_rest_follows(cfg, photos):
    items = photos(25)
    worker = FakeWorker(cfg)
    sqs = SQSService(cfg)
    with JobClient(cfg, window=6) as client:
        job = client.submit(items)
        assert sqs.depth(worker.url).visible == 6 and len(job.requests) == 6
        results: list = []
        collector = threading.Thread(target=lambda: results.extend(client.collect(job, timeout=10)))
        collector.start()
        handled, deadline = 0, time.monotonic() + 20
        while handled < 25 and time.monotonic() < deadline:
            assert sqs.depth(worker.url).total <= 6  # never more than the window on the queue
            served = worker.serve(limit=3)
            handled += served
            if not served:
                time.sleep(0.02)  # the client sends the next requests as replies come back
        collector.join(30)
    assert handled == 25
    assert len(results) == 25 and all(r.ok for r in results)


def test_recollect_reads_results_from_s3_and_reports_missing_ones(cfg, photos):
    items = photos(5)
    skipped = [Skipped("notes.txt", "skipped: not an image (text)", False)]
    with JobClient(cfg) as client:
        job = client.submit(items, skipped=skipped)
        FakeWorker(cfg).serve(ignore={items[0].name})
        collect_all(client, job, timeout=0.5)
    with JobClient(cfg) as later:
        results = later.recollect(job.job_id)
        manifest = later.read_manifest(job.job_id)
    assert [r.name for r in results] == sorted(i.name for i in items)
    assert {r.name: r.error for r in results if not r.ok} == {items[0].name: IN_PROGRESS}
    assert manifest.skipped == skipped and manifest.complete


def test_recollect_of_an_unknown_job_is_a_clear_error(cfg):
    with JobClient(cfg) as client, pytest.raises(JobError, match="no job 'nope'"):
        client.recollect("nope")


def test_close_deletes_the_reply_queue(cfg):
    client = JobClient(cfg, client_id="short-lived")
    name = client.reply_queue
    assert SQSService(cfg).exists(name)
    client.close()
    client.close()
    assert not SQSService(cfg).exists(name)


def test_missing_request_queue_says_to_provision(photos):
    with mock_aws():
        cfg = Config(wait_time=0)
        S3Service(cfg).client.create_bucket(Bucket=cfg.input_bucket)
        with JobClient(cfg) as client, pytest.raises(JobError, match="imgrec provision"):
            client.submit(photos(1))


def test_a_batch_is_one_result_object_not_one_per_image(cfg, photos):
    items = photos(20)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve()  # receives 10 at a time: two batches
        results = collect_all(client, job)
    assert len(results) == 20 and len(result_objects(cfg, job.job_id)) == 2


def test_a_request_redelivered_after_its_result_was_written_comes_back_once(cfg, photos):
    items = photos(6)
    again = {items[0].name, items[4].name}
    with JobClient(cfg) as client:
        job = client.submit(items)
        worker = FakeWorker(cfg)
        # Every reply is lost, so collect() reads everything from S3, where two objects hold each of these.
        worker.serve(redeliver=again, lose_reply={i.name for i in items})
        assert [r.name for r in worker.seen].count(items[0].name) == 2
        assert len(result_objects(cfg, job.job_id)) == 2
        collected = collect_all(client, job, timeout=3.0)
    assert sorted(r.name for r in collected) == sorted(i.name for i in items)  # each exactly once
    assert all(r.ok for r in collected)
    with JobClient(cfg) as later:
        recollected = later.recollect(job.job_id)
    assert [r.name for r in recollected] == sorted(i.name for i in items)
    assert all(r.ok for r in recollected)
    assert count_results(S3Service(cfg), cfg.output_bucket, job.job_id) == 6  # what `imgrec status` shows


def test_results_written_one_object_per_image_by_earlier_builds_are_still_read(cfg, photos):
    items = photos(5)
    lost = {items[1].name, items[3].name}
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(old_format=True, lose_reply=lost)
        assert len(result_objects(cfg, job.job_id)) == 5
        collected = collect_all(client, job, timeout=3.0)
    assert sorted(r.name for r in collected) == sorted(i.name for i in items) and all(r.ok for r in collected)
    with JobClient(cfg) as later:
        recollected = later.recollect(job.job_id)
    assert [r.name for r in recollected] == sorted(i.name for i in items) and all(r.ok for r in recollected)


def test_results_that_are_not_the_jobs_are_left_out(cfg, photos):
    items = photos(3)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(ignore={items[2].name})
        collect_all(client, job, timeout=0.5)
    s3, jid = S3Service(cfg), job.job_id
    [missing] = [rid for rid, item in job.requests.items() if item.name == items[2].name]

    def forged(**changes) -> Result:
        fields = dict(request_id=missing, job_id=jid, name="forged", label="forged")
        return Result(**{**fields, **changes})

    prefix = layout.result_prefix(jid)
    s3.put_bytes(cfg.output_bucket, layout.result_batch_key(jid, layout.new_batch_id()),
                 batch_body([forged(request_id="../../etc/passwd"), forged(request_id=layout.new_request_id())]))
    s3.put_bytes(cfg.output_bucket, f"{prefix}{layout.new_batch_id()}.json", b'{"format": 2, "results": "x"}')
    s3.put_bytes(cfg.output_bucket, f"{prefix}{layout.new_batch_id()}.json", b'{"format": 3, "results": []}')
    s3.put_bytes(cfg.output_bucket, f"{prefix}{layout.new_batch_id()}.json", b"not json")
    s3.put_json(cfg.output_bucket, f"{prefix}{layout.new_request_id()}.json", forged().to_dict())  # wrong key
    s3.put_json(cfg.output_bucket, f"{prefix}notes.json", forged().to_dict())
    other = forged(job_id="another-job")
    s3.put_bytes(cfg.output_bucket, layout.result_batch_key(jid, layout.new_batch_id()),
                 json.dumps({"format": 2, "results": [other.to_dict()]}).encode())
    with JobClient(cfg) as later:
        results = later.recollect(jid)
    assert len(results) == 3 and "forged" not in {r.label for r in results}
    assert {r.name: r.error for r in results if not r.ok} == {items[2].name: IN_PROGRESS}


def test_recovery_reads_each_result_object_once(cfg, photos):
    items = photos(12)

    class CountingS3(S3Service):
        reads: dict[str, int] = defaultdict(int)

        def get_bytes(self, bucket, key, max_bytes=None):
            self.reads[key] += 1
            return super().get_bytes(bucket, key, max_bytes)

    s3 = CountingS3(cfg)
    with JobClient(cfg, s3=s3) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(lose_reply={items[0].name, items[11].name}, ignore={items[5].name})
        results = collect_all(client, job, timeout=2.0)  # several looks in S3 before it times out
    assert sum(r.ok for r in results) == 11
    reads = {key: n for key, n in s3.reads.items() if key.startswith(layout.result_prefix(job.job_id))}
    assert len(reads) == 2 and set(reads.values()) == {1}


def test_a_file_over_the_byte_limit_gets_the_answer_a_worker_or_predict_would_give(cfg, photos):
    """Refused before upload, in the same words as the worker and `imgrec predict` use for it."""
    items = photos(2)
    small = cfg.replace(max_image_bytes=items[0].size - 1)
    with JobClient(small) as client:
        job = client.submit(items[:1])
        [result] = collect_all(client, job, timeout=2)
    assert result.error == f"image too large: {items[0].size} bytes (limit {items[0].size - 1})"
