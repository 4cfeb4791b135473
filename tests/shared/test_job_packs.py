"""Inputs go up in packs: one S3 object per up to 10 images, each request naming its byte range."""

from __future__ import annotations

import threading

from shared import layout
from shared.job import CANCELLED_BEFORE_ENQUEUE, JobClient
from shared.s3 import S3Service
from shared.scan import scan
from tests.shared.fake_worker import FakeWorker, collect_all


def input_objects(cfg, job_id: str) -> list[str]:
    return sorted(S3Service(cfg).list_keys(cfg.input_bucket, layout.job_prefix(job_id)))


def recording_batches(client) -> list[list[str]]:
    """The request bodies of each SendMessageBatch the client makes from now on."""
    batches: list[list[str]] = []
    send = client.sqs.send_batch

    def record(url, bodies, *args, **kwargs):
        batches.append(list(bodies))
        return send(url, bodies, *args, **kwargs)

    client.sqs.send_batch = record
    return batches


def test_25_images_make_3_input_objects_and_each_range_is_its_own_file(cfg, photos):
    items = photos(25)
    worker = FakeWorker(cfg)
    with JobClient(cfg) as client:
        batches = recording_batches(client)
        uploaded = []
        job = client.submit(items, on_uploaded=lambda item, n, b: uploaded.append(item.name))
        worker.serve()
        results = collect_all(client, job)
    assert input_objects(cfg, job.job_id) == [layout.pack_key(job.job_id, n) for n in range(3)]
    assert sorted(uploaded) == sorted(i.name for i in items)  # each file reported once
    assert sorted(len(b) for b in batches) == [5, 10, 10]  # a pack's requests in one SendMessageBatch
    by_name = {item.name: item for item in items}
    assert len(worker.seen) == 25
    for request in worker.seen:
        assert worker.inputs[request.request_id] == by_name[request.name].path.read_bytes(), request.name
    assert sorted(sum(r.key == key for r in worker.seen) for key in {r.key for r in worker.seen}) == [5, 10, 10]
    assert sorted(r.name for r in results) == sorted(by_name) and all(r.ok for r in results)


def test_packs_stop_at_the_byte_limit_and_a_larger_file_is_a_pack_of_one(cfg, photos, monkeypatch):
    size = 1000
    for item in photos(6):  # every file the same size (bytes after the PNG's end are never read)
        data = item.path.read_bytes()
        item.path.write_bytes(data + b"\0" * ((4 * size if item.name == "img003.png" else size) - len(data)))
    items = scan([item.path.parent]).images
    monkeypatch.setattr(layout, "PACK_MAX_BYTES", 2 * size)  # two files per pack; img003 alone is over
    worker = FakeWorker(cfg)
    with JobClient(cfg) as client:
        job = client.submit(items)
        worker.serve()
        assert len(collect_all(client, job)) == 6
    keys = {request.name: request.key for request in worker.seen}
    members = {}
    for name, key in keys.items():
        members.setdefault(key, []).append(name)
    assert sorted(map(sorted, members.values())) == [
        ["img000.png", "img001.png"], ["img002.png"], ["img003.png"], ["img004.png", "img005.png"]]
    for request in worker.seen:
        assert worker.inputs[request.request_id] == next(i for i in items if i.name == request.name).path.read_bytes()


def test_a_pack_that_fails_to_upload_is_an_error_row_per_file_and_the_others_go_on(cfg, photos):
    items = photos(25)
    with JobClient(cfg) as client:
        def refuse_second_pack(params, **kwargs):
            if params.get("Key", "").endswith("/pack-1"):
                raise ConnectionError("the network went away")
        client.s3.client.meta.events.register("before-parameter-build.s3.PutObject", refuse_second_pack)
        job = client.submit(items)
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    failed = sorted(r.name for r in results if not r.ok)
    assert failed == [i.name for i in items[10:20]]  # the second pack: its ten files, one row each
    assert all(r.error.startswith("upload failed") for r in results if not r.ok)
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert input_objects(cfg, job.job_id) == [layout.pack_key(job.job_id, 0), layout.pack_key(job.job_id, 2)]


def test_cancel_mid_upload_stops_between_packs_and_leaves_no_orphan_pack(cfg, photos):
    items = photos(60)
    stop = threading.Event()
    with JobClient(cfg) as client:
        batches = recording_batches(client)
        send = client.sqs.send_batch

        def send_then_cancel(*args, **kwargs):  # the user cancels once the first pack is enqueued
            try:
                return send(*args, **kwargs)
            finally:
                stop.set()

        client.sqs.send_batch = send_then_cancel
        job = client.submit(items, cancelled=stop.is_set)
        assert job.cancelled
        worker = FakeWorker(cfg)
        worker.serve()
        results = collect_all(client, job)
        left = input_objects(cfg, job.job_id)
    sent_packs = {request.key for request in worker.seen}
    assert left == sorted(sent_packs)  # every pack left is read by a request; no orphan
    assert len(left) == 1  # the one pack enqueued; the others uploaded were deleted
    assert len(job.requests) == 10 and [len(batch) for batch in batches] == [10]  # no pack half enqueued
    assert len(results) == 60 and len({r.request_id for r in results}) == 60
    assert sum(r.ok for r in results) == len(job.requests)
    assert {r.error for r in results if not r.ok} <= {CANCELLED_BEFORE_ENQUEUE, "cancelled before upload"}


def test_a_pack_with_a_sent_request_is_kept_when_the_rest_is_not_enqueued(cfg, photos):
    """A window smaller than a pack sends part of it; a cancel then must not delete what a worker reads."""
    items = photos(10)
    stop = threading.Event()
    worker = FakeWorker(cfg)
    with JobClient(cfg, window=4) as client:
        job = client.submit(items, cancelled=stop.is_set)
        assert len(job.requests) == 4
        stop.set()
        worker.serve()
        results = collect_all(client, job)
        assert input_objects(cfg, job.job_id) == [layout.pack_key(job.job_id, 0)]
    assert sum(r.ok for r in results) == 4 and len(results) == 10
    assert {r.error for r in results if not r.ok} == {CANCELLED_BEFORE_ENQUEUE}
