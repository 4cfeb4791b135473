"""End to end: a real moto server, two real worker processes, the real model, the 100-image workload."""

from __future__ import annotations

import os
import signal
import struct
import threading
import time
import zlib

import pytest

from cloud.cli import main as imgrec
from shared import layout, results_csv
from shared.job import JobClient
from shared.s3 import S3Service
from shared.scan import scan
from tests.reliability import Outcome

pytestmark = pytest.mark.e2e

RESULT_TIMEOUT = 120.0  # seconds without a new result before the test's job gives up


def run_job(cfg, items, **submit_kwargs):
    with JobClient(cfg) as client:
        job = client.submit(items, **submit_kwargs)
        return job, list(client.collect(job, timeout=RESULT_TIMEOUT))


def assert_matches_reference(results, reference):
    assert all(r.ok for r in results), [(r.name, r.error) for r in results if not r.ok][:5]
    for r in results:
        expected = reference[r.name]
        assert r.label == expected["label"], r.name
        assert r.score == pytest.approx(float(expected["score"]), abs=2e-3)


def test_all_100_come_back_exactly_once_and_equal_predict(cloud, workload_items, reference, tmp_path):
    job, results = run_job(cloud.cfg, workload_items)
    names = [r.name for r in results]
    assert len(names) == 100 and set(names) == set(reference)
    assert_matches_reference(results, reference)
    assert {r.worker_id for r in results} <= set(cloud.fleet.pids())
    # One result object per worker batch, not one per image: S3 PUTs were most of the cost per image.
    objects = list(S3Service(cloud.cfg).list_keys(cloud.cfg.output_bucket, layout.result_prefix(job.job_id)))
    print(f"{len(results)} results in {len(objects)} result objects")
    assert len(objects) <= len(results) / 4

    # `imgrec results JOB_ID` reads the same rows back from the output bucket alone.
    out = tmp_path / "again.csv"
    assert imgrec(["results", job.job_id, "--endpoint", cloud.endpoint, "--out", str(out)]) == 0
    again = {row["image"]: row["label"] for row in results_csv.read_csv(out)}
    assert again == {r.name: r.label for r in results}


def test_two_concurrent_clients_get_only_their_own_results(cloud, workload_items, reference):
    halves = {"a": workload_items[:30], "b": workload_items[30:60]}
    got: dict[str, tuple] = {}

    def client(key: str) -> None:
        got[key] = run_job(cloud.cfg, halves[key])

    threads = [threading.Thread(target=client, args=(key,)) for key in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for key, items in halves.items():
        job, results = got[key]
        assert sorted(r.name for r in results) == sorted(i.name for i in items)
        assert {r.job_id for r in results} == {job.job_id}
        assert_matches_reference(results, reference)
    assert got["a"][0].job_id != got["b"][0].job_id


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + chunk(b"IEND", b""))


def test_bad_files_each_yield_one_error_row_beside_good_images(cloud, workload_items, reference, tmp_path,
                                                                reliability):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = workload_items[:3]
    for item in good:
        (folder / item.name).write_bytes(item.path.read_bytes())
    jpeg = workload_items[3].path.read_bytes()
    (folder / "notes.jpg").write_text("a text file with an image's name\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "bomb.png").write_bytes(_png_claiming(60000, 60000))

    scanned = scan([folder])
    _job, results = run_job(cloud.cfg, scanned.images, skipped=scanned.skipped)
    rows = results_csv.to_rows(results, scanned.skipped)
    files = [i.name for i in good] + ["notes.jpg", "empty.jpg", "truncated.jpg", "bomb.png"]
    reliability.record("awkward-file corpus", images=len(files), expected=files,  # the scan answers two itself
                       results=[Outcome(row.image, row.request_id or None, row.error or None) for row in rows])
    by_image: dict[str, list] = {}
    for row in rows:
        by_image.setdefault(row.image, []).append(row)
    bad = ["notes.jpg", "empty.jpg", "truncated.jpg", "bomb.png"]
    assert sorted(by_image) == sorted([i.name for i in good] + bad)
    assert all(len(v) == 1 for v in by_image.values())  # one row per file
    for name in bad:
        assert by_image[name][0].error, name
        assert not by_image[name][0].label
    for item in good:
        assert by_image[item.name][0].label == reference[item.name]["label"]
    assert results_csv.exit_code(rows) == results_csv.EXIT_FAILED


def _busy_at_once(fleet, count: int, timeout: float = RESULT_TIMEOUT) -> list[str]:
    """The ids of ``count`` workers that hold a batch at the same moment, as soon as there are that many."""
    deadline = time.monotonic() + timeout
    while True:
        fleet.changed.clear()  # before looking: a change while looking wakes the wait below
        busy = [w.id for w in fleet.observe().workers if w.state == "busy"]
        if len(busy) >= count:
            return busy[:count]
        assert time.monotonic() < deadline, f"{count} workers were never busy at once"
        fleet.changed.wait(0.2)


@pytest.mark.parametrize(("workers", "killed"), [pytest.param(2, 1, id="one-of-two"),
                                                 pytest.param(3, 2, id="two-of-three-at-once")])
def test_workers_killed_mid_batch_lose_nothing_and_duplicate_nothing(own_cloud, workload_items, reference,
                                                                      workers, killed, reliability):
    """SIGKILL, no drain: the batches the killed workers held come back after the visibility timeout and
    the workers left answer them. A cloud of its own: the session's keeps its two workers."""
    cloud = own_cloud(workers)
    items = workload_items
    started = time.monotonic()
    with JobClient(cloud.cfg) as client:
        job = client.submit(items)
        victims = _busy_at_once(cloud.fleet, killed)
        pids = cloud.fleet.pids()
        for worker_id in victims:
            os.kill(pids[worker_id], signal.SIGKILL)
        results = list(client.collect(job, timeout=RESULT_TIMEOUT))
        stored = client.recollect(job.job_id)  # the output bucket alone, as `imgrec results JOB_ID` reads it
    reliability.record("worker SIGKILLed mid-batch" if killed == 1 else "two of three workers SIGKILLed at once",
                       images=len(items), results=results, expected=[i.name for i in items],
                       seconds=time.monotonic() - started)
    cloud.fleet.observe()  # reaps them
    exits = {worker_id: code for worker_id, code, _ in cloud.fleet.exited}
    assert exits == {worker_id: -signal.SIGKILL for worker_id in victims}
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert len({r.request_id for r in results}) == len(items)
    assert_matches_reference(results, reference)
    # `imgrec results` agrees: one row per image, each answered, with the label the job got.
    assert len(stored) == len(items) and all(r.ok for r in stored), [r.error for r in stored if not r.ok][:5]
    assert {r.name: r.label for r in stored} == {r.name: r.label for r in results}
