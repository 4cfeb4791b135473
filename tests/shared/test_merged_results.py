"""A finished job leaves its results as one CSV in the output bucket (the original's merged output
file), and `imgrec results` / the desktop history read it back in one GET when it is complete."""

from __future__ import annotations

import io

from shared import layout, results_csv
from shared.job import TIMED_OUT, JobClient, recollect
from shared.messages import Result
from shared.result_objects import batch_body
from shared.s3 import S3Service
from shared.scan import Skipped
from tests.shared.fake_worker import FakeWorker, collect_all


def merged_rows(cfg, job_id: str) -> list[dict[str, str]]:
    body = S3Service(cfg).get_bytes(cfg.output_bucket, layout.merged_results_key(job_id))
    return results_csv.read_csv(io.StringIO(body.decode()))


def test_a_finished_job_leaves_its_results_csv_in_the_output_bucket(cfg, photos):
    items = photos(12)
    skipped = [Skipped("notes.txt", "skipped: not an image (text)", False)]
    with JobClient(cfg) as client:
        job = client.submit(items, skipped=skipped)
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    rows = merged_rows(cfg, job.job_id)
    assert list(rows[0])[:5] == list(results_csv.COLUMNS)
    assert [row["image"] for row in rows] == sorted([i.name for i in items] + ["notes.txt"])
    assert {row["image"]: row["label"] for row in rows if row["request_id"]} == {r.name: r.label for r in results}
    assert [row["error"] for row in rows if row["image"] == "notes.txt"] == ["skipped: not an image (text)"]


def test_recollect_reads_the_merged_csv_alone_when_it_is_complete(cfg, photos):
    items = photos(7)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve()
        results = collect_all(client, job)
    s3 = S3Service(cfg)
    for key in list(s3.list_keys(cfg.output_bucket, layout.result_prefix(job.job_id))):
        s3.client.delete_object(Bucket=cfg.output_bucket, Key=key)  # only the merged CSV is left
    again = recollect(cfg, job.job_id)
    assert [(r.request_id, r.name, r.label, r.score, r.top5) for r in again] == \
        [(r.request_id, r.name, r.label, r.score, r.top5) for r in sorted(results, key=lambda r: r.name)]


def test_a_merged_csv_with_a_request_the_client_gave_up_on_is_not_trusted(cfg, photos):
    items = photos(4)
    with JobClient(cfg) as client:
        job = client.submit(items)
        FakeWorker(cfg).serve(ignore={items[1].name})  # its worker is slow: no answer in time
        results = collect_all(client, job, timeout=0.5)
    assert [r.name for r in results if r.error == TIMED_OUT] == [items[1].name]
    late = Result(request_id=next(rid for rid, item in job.requests.items() if item == items[1]), job_id=job.job_id,
                  name=items[1].name, label="late", score=0.7, top5=(("late", 0.7),))
    S3Service(cfg).put_bytes(cfg.output_bucket, layout.result_batch_key(job.job_id, layout.new_batch_id()),
                             batch_body([late]))
    again = {r.name: r for r in recollect(cfg, job.job_id)}
    assert again[items[1].name].label == "late"  # from the result objects, not the merged CSV
