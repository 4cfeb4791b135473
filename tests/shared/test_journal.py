"""The job journal (what a run uploaded and sent, written ahead) and the resume plan read from it."""

from __future__ import annotations

import pytest

from shared import layout
from shared.config import Config
from shared.journal import JobJournal, journal_path
from shared.messages import Result
from shared.resume import plan_resume
from shared.scan import scan

JOB = "20261130-101500-abc123"


@pytest.fixture
def items(tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(6):
        (folder / f"img{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes([i]) * 100)
    return scan([folder]).images


def record_run(journal: JobJournal, items, *, sent: int, sending: int, uploaded_packs: int):
    """Journals a run of ``items`` in packs of two: the first ``uploaded_packs`` packs, of whose
    requests the first ``sent`` were confirmed and the next ``sending`` only announced."""
    rids = {layout.new_request_id(): item for item in items}
    journal.start(JOB, "host-1-aaaaaa", rids)
    order = list(rids)
    for n in range(uploaded_packs):
        members = order[2 * n: 2 * n + 2]
        journal.pack(layout.pack_key(JOB, n), [(rid, 100 * i, 100) for i, rid in enumerate(members)])
    journal.sending(order[:sent + sending])
    journal.sent(order[:sent])
    return order


def test_a_journal_reads_back_what_its_run_recorded(tmp_path, items):
    journal = JobJournal.open(tmp_path / "j.jsonl")
    order = record_run(journal, items, sent=2, sending=1, uploaded_packs=2)
    previous = journal.previous()
    assert previous.job_id == JOB and previous.client_id == "host-1-aaaaaa"
    assert [previous.files[str(item.path)].request_id for item in items] == order
    assert previous.sent == set(order[:2]) and previous.sending == set(order[:3])
    assert list(previous.packs) == [layout.pack_key(JOB, 0), layout.pack_key(JOB, 1)]


def test_a_line_cut_short_by_a_kill_ends_the_record_there(tmp_path, items):
    path = tmp_path / "j.jsonl"
    journal = JobJournal.open(path)
    order = record_run(journal, items, sent=2, sending=0, uploaded_packs=1)
    journal.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"sent": ["' + order[2])  # the process died mid-write
    previous = JobJournal.open(path).previous()
    assert previous.sent == set(order[:2])


def test_a_second_process_cannot_take_a_journal_in_use(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "j.jsonl"
    holder = JobJournal.open(path)
    holder.start(JOB, "c", {})
    # flock locks are per open file: a second open in another process must fail while the first holds it.
    probe = subprocess.run([sys.executable, "-c",
                            "import sys; from shared.journal import JobJournal, JournalBusy\n"
                            "try:\n    JobJournal.open(__import__('pathlib').Path(sys.argv[1]))\n"
                            "except JournalBusy as e:\n    print('busy:', e)\n", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.startswith("busy: another imgrec process is running this job now"), probe
    holder.close()  # a killed holder's lock goes with its process: the journal can be taken again
    JobJournal.open(path).close()


def test_finish_removes_the_journal_and_an_unused_one_leaves_no_file(tmp_path, items):
    used = JobJournal.open(tmp_path / "used.jsonl")
    record_run(used, items, sent=6, sending=0, uploaded_packs=3)
    used.finish()
    assert not (tmp_path / "used.jsonl").exists()
    JobJournal.open(tmp_path / "unused.jsonl").close()
    assert not (tmp_path / "unused.jsonl").exists()


def test_the_journal_is_per_target_and_set_of_paths_in_any_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cfg = Config(endpoint_url="http://127.0.0.1:5000")
    assert journal_path(cfg, [a, b]) == journal_path(cfg, [b, a])
    assert journal_path(cfg, [a]) != journal_path(cfg, [a, b])
    assert journal_path(cfg, [a]) != journal_path(Config(endpoint_url="http://127.0.0.1:5001"), [a])
    assert journal_path(cfg, [a]) != journal_path(cfg.replace(upload="preview"), [a])


def test_the_plan_keeps_what_is_done_awaits_what_was_sent_and_resends_what_may_have_been(tmp_path, items):
    journal = JobJournal.open(tmp_path / "j.jsonl")
    # Packs of two: pack 0 sent, pack 1 "sending" (unconfirmed), pack 2 uploaded but never sent.
    order = record_run(journal, items, sent=2, sending=2, uploaded_packs=3)
    done = Result(request_id=order[0], job_id=JOB, name=items[0].name, label="tabby", score=0.9)
    plan = plan_resume(journal.previous(), items, [done])
    assert plan.job_id == JOB and plan.old_client_id == "host-1-aaaaaa"
    assert plan.done == {order[0]: done}
    assert plan.in_flight == {order[1]}
    assert plan.resend == {order[2]: (layout.pack_key(JOB, 1), 0, 100), order[3]: (layout.pack_key(JOB, 1), 100, 100)}
    assert plan.stale_packs == [layout.pack_key(JOB, 2)]  # none of its requests went out: deleted
    assert plan.next_pack == 3
    assert set(plan.request_ids.values()) == set(order)  # the unsent two keep their ids, to be uploaded again
    assert plan.summary(len(items)) == "1 already classified, 1 still queued or in progress, 4 to send"


def test_a_file_that_changed_since_is_classified_again_under_a_new_request(tmp_path, items):
    journal = JobJournal.open(tmp_path / "j.jsonl")
    order = record_run(journal, items, sent=6, sending=0, uploaded_packs=3)
    items[0].path.write_bytes(b"\xff\xd8\xff" + b"changed" * 50)
    plan = plan_resume(journal.previous(), scan([items[0].path.parent]).images, [])
    assert items[0].path not in plan.request_ids
    assert plan.in_flight == set(order[1:])
