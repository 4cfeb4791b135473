"""The SQLite history: jobs with their items and results, counts, missing results, a re-opened file."""

from __future__ import annotations

from desktop.history import FINISHED, INTERRUPTED, RUNNING, HistoryStore, JobRecord
from desktop.rows import DONE, FAILED, SKIPPED, TableRow


def test_a_job_round_trips_and_reports_what_is_missing(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    store.add_job(JobRecord(job_id="j1", title="photos", target="http://127.0.0.1:1", output_bucket="out"))
    store.add_items("j1", [("a.jpg", "/x/a.jpg"), ("b.jpg", "/x/b.jpg"), ("c.jpg", None)])
    cat = TableRow(name="a.jpg", path="/x/a.jpg", label="cat", score=0.9, top5=(("cat", 0.9), ("dog", 0.05)),
                   request_id="r1", worker="w1", latency_s=0.5, status=DONE)
    store.add_rows("j1", [
        cat,
        TableRow(name="b.jpg", error="truncated", request_id="r2", status=FAILED),
        TableRow(name="notes.txt", error="skipped: not an image", status=SKIPPED),
    ])
    store.add_rows("j1", [cat])  # a redelivered result is stored once
    store.set_status("j1", RUNNING)

    reopened = HistoryStore(path)  # a new app start
    [job] = reopened.jobs()
    assert (job.record.total, job.done, job.failed, job.skipped, job.missing) == (3, 1, 1, 1, 1)
    loaded = reopened.load("j1")
    assert loaded.missing == ["c.jpg"]
    by_name = {r.name: r for r in loaded.rows}
    assert by_name["a.jpg"].top5 == (("cat", 0.9), ("dog", 0.05))
    assert by_name["notes.txt"].request_id == ""
    assert loaded.paths["b.jpg"] == "/x/b.jpg"
    assert by_name["a.jpg"].request_id == "r1"

    assert reopened.mark_interrupted() == 1
    assert reopened.summary("j1").record.status == INTERRUPTED
    reopened.set_status("j1", FINISHED)
    assert reopened.mark_interrupted() == 0


def test_jobs_are_listed_newest_first(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    for i, created in enumerate((100.0, 300.0, 200.0)):
        store.add_job(JobRecord(job_id=f"j{i}", title="t", target="x", output_bucket="o", created=created))
    assert [j.record.job_id for j in store.jobs()] == ["j1", "j2", "j0"]
