"""Resuming a job whose client stopped, and `imgrec results` of such a job, against moto (`mock_aws`)
with the stand-in worker of test_job. The same with a real killed client process: tests/e2e/test_resume.py."""

from __future__ import annotations

import threading

from cloud.cli import main as imgrec
from shared import layout
from shared.job import JobClient
from shared.job_manifest import IN_PROGRESS, NOT_SENT, Manifest
from shared.journal import JobJournal, journal_path
from shared.messages import Result
from shared.result_objects import batch_body
from shared.s3 import S3Service
from tests.shared.fake_worker import FakeWorker, collect_all


def inputs(cfg, job_id: str) -> set[str]:
    return set(S3Service(cfg).list_keys(cfg.input_bucket, layout.job_prefix(job_id)))


def test_a_resumed_job_keeps_what_is_done_and_awaits_what_was_sent_without_sending_it_again(cfg, photos):
    items = photos(30)
    folder = items[0].path.parent
    worker = FakeWorker(cfg)
    journal = JobJournal.open(journal_path(cfg, [folder]))
    first = JobClient(cfg)
    job = first.submit(items, journal=journal)
    assert worker.serve(limit=10) == 10
    first.close()  # the client stops with 20 requests still queued; its journal stays
    journal.close()

    journal = JobJournal.open(journal_path(cfg, [folder]))
    with JobClient(cfg) as second:
        plan = second.plan_resume(journal.previous(), items)
        assert (plan.job_id, len(plan.done), len(plan.in_flight), plan.resend) == (job.job_id, 10, 20, {})
        resumed = second.submit(items, journal=journal, resume=plan)
        assert resumed.job_id == job.job_id
        assert worker.serve() == 20
        results = collect_all(second, resumed)
    journal.finish()
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert all(r.ok and r.label == f"label-of-{r.name}" for r in results)
    assert len(worker.seen) == 30 and len({r.request_id for r in worker.seen}) == 30  # nothing sent twice
    assert second.recollect(job.job_id) == sorted(results, key=lambda r: (r.name, r.request_id))


def test_a_resumed_job_deletes_inputs_never_sent_and_sends_their_images_again(cfg, photos):
    items = photos(25)
    folder = items[0].path.parent
    journal = JobJournal.open(journal_path(cfg, [folder]))
    with JobClient(cfg) as first:
        # The client stops once its first batch is sent: the rest is never enqueued.
        job = first.submit(items, journal=journal, cancelled=lambda: '"sent"' in journal.path.read_text())
    sent_first = set(job.requests)
    assert 0 < len(sent_first) < 25
    # As if the client had died with one more pack in S3 and its requests unsent (a cancel deletes it).
    orphan = layout.pack_key(job.job_id, 9)
    S3Service(cfg).put_bytes(cfg.input_bucket, orphan, b"\xff" * 10)
    unsent = [rid for rid in journal.previous().files.values() if rid.request_id not in sent_first]
    journal.pack(orphan, [(unsent[0].request_id, 0, 10)])
    journal.close()

    worker = FakeWorker(cfg)
    journal = JobJournal.open(journal_path(cfg, [folder]))
    with JobClient(cfg) as second:
        plan = second.plan_resume(journal.previous(), items)
        assert orphan in plan.stale_packs and plan.next_pack == 10
        resumed = second.submit(items, journal=journal, resume=plan)
        assert not set(plan.stale_packs) & inputs(cfg, job.job_id)  # removed, never read by a worker
        worker.serve()
        results = collect_all(second, resumed)
    journal.finish()
    assert sorted(r.name for r in results) == sorted(i.name for i in items)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len({r.request_id for r in worker.seen}) == len(worker.seen) == 25  # each image classified once
    assert all(worker.inputs[r.request_id] == item.path.read_bytes()
               for r in worker.seen for item in items if item.name == r.name)


def test_results_tells_in_progress_from_never_sent_and_waits_for_what_is_in_progress(cfg, photos, capsys,
                                                                                    monkeypatch):
    # Buckets named: on (mock) AWS the command would otherwise name them after the account.
    monkeypatch.setenv("IMGREC_INPUT_BUCKET", cfg.input_bucket)
    monkeypatch.setenv("IMGREC_OUTPUT_BUCKET", cfg.output_bucket)
    items = photos(6)
    with JobClient(cfg) as client:
        job = client.submit(items)
    # What a client killed before it sent the last two requests leaves: its first manifest update.
    rids = sorted(job.requests, key=lambda rid: job.requests[rid].name)
    manifest = Manifest(job_id=job.job_id, requests={rid: job.requests[rid].name for rid in rids},
                        sent=set(rids[:4]), client_id="gone")
    S3Service(cfg).put_json(cfg.output_bucket, layout.manifest_key(job.job_id), manifest.to_dict())
    done = Result(request_id=rids[0], job_id=job.job_id, name=job.requests[rids[0]].name, label="tabby", score=0.9)
    S3Service(cfg).put_bytes(cfg.output_bucket, layout.result_batch_key(job.job_id, layout.new_batch_id()),
                             batch_body([done]))
    worker = FakeWorker(cfg)

    assert imgrec(["results", job.job_id]) == 1  # two files never sent: the job cannot finish alone
    out, err = capsys.readouterr()
    assert "1 classified, 0 failed, 3 in progress, 2 not sent" in err
    assert "Run the same `imgrec classify` command again" in err
    assert out.count(IN_PROGRESS) == 3 and out.count(NOT_SENT) == 2

    manifest.sent = set(rids)  # the same job once everything was sent: only work in progress
    S3Service(cfg).put_json(cfg.output_bucket, layout.manifest_key(job.job_id), manifest.to_dict())
    assert imgrec(["results", job.job_id]) == 0
    assert "1 classified, 0 failed, 5 in progress" in capsys.readouterr().err

    serving = threading.Timer(1.0, worker.serve)
    serving.start()
    try:
        assert imgrec(["results", job.job_id, "--wait", "30"]) == 0
    finally:
        serving.join()
    out, err = capsys.readouterr()
    assert "waiting for 5 result(s) in progress" in err and "6 classified, 0 failed" in err
    assert IN_PROGRESS not in out
