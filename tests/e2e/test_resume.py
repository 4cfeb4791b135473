"""A real `imgrec classify` process SIGKILLed during upload and during collection, then the same command
run again: every image comes back exactly once with its reference label, what was done is not redone,
and the inputs the killed client never sent are deleted. The session's cloud (moto + two real workers)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cloud.cli import main as imgrec
from shared import layout, results_csv
from shared.journal import JobJournal
from shared.resume import plan_resume
from shared.s3 import S3Service
from tests.e2e.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

IMAGES = 40
STOP_WAIT_SECONDS = 120  # for the killed client to reach its stopping point


def copy_images(items, folder):
    folder.mkdir()
    for item in items[:IMAGES]:
        shutil.copyfile(item.path, folder / item.name)
    return sorted(item.name for item in items[:IMAGES])


def run_until_stopped(where: str, after: int, args: list[str]) -> None:
    """Starts `imgrec classify ARGS` that blocks once ``after`` files are uploaded (or results in), and
    SIGKILLs it there."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.interrupted_client", where, str(after), *args],
                            cwd=REPO_ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        reached = threading.Event()

        def watch() -> None:
            for line in proc.stdout:
                if line.strip() == "STOPPED":
                    reached.set()
                    return

        threading.Thread(target=watch, daemon=True).start()
        stopped = reached.wait(STOP_WAIT_SECONDS)
    finally:
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait(timeout=30)
    assert stopped, f"the client never got to its stopping point: {proc.stderr.read()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL


def the_journal():
    """The one journal the killed client left, read and released."""
    [path] = list(Path(os.environ["IMGREC_STATE_DIR"]).glob("*.jsonl"))
    journal = JobJournal.open(path)
    try:
        return path, journal.previous()
    finally:
        journal.close()


def test_a_client_killed_during_upload_resumes_and_loses_nothing(cloud, workload_items, reference, tmp_path,
                                                                 capsys, reliability):
    names = copy_images(workload_items, tmp_path / "shoot")
    args = ["classify", str(tmp_path / "shoot"), "--endpoint", cloud.endpoint, "--no-progress"]
    started = time.monotonic()
    run_until_stopped("upload", 15, args)
    path, previous = the_journal()
    stale = plan_resume(previous, [], []).stale_packs  # uploaded, none of their requests sent

    # `imgrec results` says what the killed client never sent, and what to do about it.
    code = imgrec(["results", previous.job_id, "--endpoint", cloud.endpoint, "--wait", "60"])
    err = capsys.readouterr().err
    assert code == results_csv.EXIT_FAILED, err
    assert " not sent" in err and "Run the same `imgrec classify` command again" in err

    out = tmp_path / "resumed.csv"
    assert imgrec([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"job {previous.job_id}: resuming an interrupted run:" in err
    rows = results_csv.read_csv(out)
    assert sorted(row["image"] for row in rows) == names  # every image exactly once
    assert all(row["label"] == reference[row["image"]]["label"] for row in rows)
    assert not path.exists()  # the job is over: nothing left to resume
    kept = set(S3Service(cloud.cfg).list_keys(cloud.cfg.input_bucket, layout.job_prefix(previous.job_id)))
    assert not set(stale) & kept
    reliability.record("client killed during upload, resumed", images=IMAGES, expected=names,
                       results=[row["image"] for row in rows], seconds=time.monotonic() - started,
                       note=f"killed after 15 files uploaded; {len(stale)} unsent pack(s) deleted on resume")


def test_a_client_killed_during_collection_resumes_without_sending_anything_again(
        cloud, workload_items, reference, tmp_path, capsys, reliability):
    names = copy_images(workload_items, tmp_path / "shoot")
    args = ["classify", str(tmp_path / "shoot"), "--endpoint", cloud.endpoint, "--no-progress"]
    started = time.monotonic()
    run_until_stopped("collect", 10, args)
    _path, previous = the_journal()
    assert previous.sent == set(previous.sending) and len(previous.sent) == IMAGES  # all were sent
    packs = set(S3Service(cloud.cfg).list_keys(cloud.cfg.input_bucket, layout.job_prefix(previous.job_id)))

    out = tmp_path / "resumed.csv"
    assert imgrec([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"job {previous.job_id}: resuming an interrupted run:" in err and ", 0 to send" in err
    rows = results_csv.read_csv(out)
    assert sorted(row["image"] for row in rows) == names
    assert all(row["label"] == reference[row["image"]]["label"] for row in rows)
    assert set(S3Service(cloud.cfg).list_keys(cloud.cfg.input_bucket, layout.job_prefix(previous.job_id))) == packs
    reliability.record("client killed during collection, resumed", images=IMAGES, expected=names,
                       results=[row["image"] for row in rows], seconds=time.monotonic() - started,
                       note="killed after 10 results; nothing uploaded or sent again")
