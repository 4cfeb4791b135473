"""One job as a Task body: a helper process (desktop.job_process) uploads, enqueues and collects;
this task relays its events into the Inbox that the GUI drains every 100 ms.

The task never touches Qt widgets. The helper records the job in the history database as results
arrive, so a job survives a restart of the app. Each job has its own JobClient in its own process,
hence its own reply queue: two jobs running at once each collect exactly their own results.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
from dataclasses import dataclass, field

from desktop.inbox import Inbox
from desktop.job_process import CANCEL, JobPlan, encode_request, row_from_dict
from desktop.priority import BACKGROUND_NICENESS
from desktop.rows import TableRow
from desktop.tasks import Task
from shared.children import spawn
from shared.config import Config

log = logging.getLogger(__name__)

__all__ = ["Arrived", "Enqueued", "JobFailed", "JobOutcome", "JobPlan", "Uploaded", "run_job"]

POLL_SECONDS = 0.1  # how often the task looks at its cancel and abandon flags
STOP_GRACE_SECONDS = 10.0  # after SIGTERM, the helper deletes its reply queue; then it is killed


# --- what goes through the inbox -----------------------------------------------------------------
@dataclass(frozen=True)
class Uploaded:
    job_id: str
    files: int
    bytes: int
    saved: int = 0  # bytes of those files not sent (upload = preview)


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    count: int  # results to wait for: every item submitted comes back once
    cancelled: bool


@dataclass(frozen=True)
class Arrived:
    job_id: str
    rows: list[TableRow] = field(default_factory=list)


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str  # finished | cancelled
    results: int
    seconds: float


class JobFailed(RuntimeError):
    """The helper process reported an error, or died without a word."""


def _read_lines(stream, lines: queue.SimpleQueue) -> None:
    try:
        for line in stream:
            lines.put(line)
    finally:
        lines.put(None)


def run_job(task: Task, cfg: Config, plan: JobPlan, inbox: Inbox, history: str | None, target: str,
            abandon: threading.Event | None = None) -> JobOutcome:
    """``task.cancel()`` stops the uploads (what was enqueued still comes back); ``abandon`` stops
    waiting for results (the app is closing: they stay in the output bucket for History)."""
    abandon = abandon or threading.Event()
    # A session of its own, niced: its uploads are not charged to the window's scheduler group and must
    # not starve the window (see priority.py).
    helper = spawn("job-helper", session=True, niceness=BACKGROUND_NICENESS, stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, text=True, bufsize=1)
    lines: queue.SimpleQueue = queue.SimpleQueue()
    reader = threading.Thread(target=_read_lines, args=(helper.stdout, lines), name=f"job-{plan.job_id}",
                              daemon=True)
    reader.start()
    cancel_sent = stopping = False
    ending: dict | None = None
    try:
        helper.stdin.write(encode_request(cfg, plan, history, target) + "\n")
        helper.stdin.flush()
        while True:
            if task.cancelled() and not cancel_sent:
                cancel_sent = True
                _send(helper, CANCEL)
            if abandon.is_set() and not stopping:
                stopping = True
                helper.terminate()
            try:
                line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                break
            event = _parse(line)
            if event is None:
                continue
            kind = event.get("event")
            if kind == "uploaded":
                inbox.put(Uploaded(plan.job_id, int(event["files"]), int(event["bytes"]), int(event.get("saved", 0))))
            elif kind == "enqueued":
                inbox.put(Enqueued(plan.job_id, int(event["count"]), bool(event["cancelled"])))
            elif kind == "rows":
                inbox.put(Arrived(plan.job_id, [row_from_dict(r) for r in event["rows"]]))
            elif kind in ("done", "error"):
                ending = event
    finally:
        _finish(helper)
    if ending is None:
        raise JobFailed(f"the job process exited with code {helper.returncode} without a result")
    if ending["event"] == "error":
        raise JobFailed(ending.get("message") or ending.get("kind") or "the job failed")
    return JobOutcome(plan.job_id, ending["status"], int(ending["results"]), float(ending["seconds"]))


def _send(helper: subprocess.Popen, command: str) -> None:
    try:
        helper.stdin.write(command + "\n")
        helper.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):  # it has already ended
        pass


def _parse(line: str) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        log.debug("job process said: %s", line.rstrip())
        return None
    return event if isinstance(event, dict) else None


def _finish(helper: subprocess.Popen) -> None:
    """Closes stdin (the helper stops if it still runs), waits, and kills it only as a last resort."""
    try:
        helper.stdin.close()
    except OSError:
        pass
    try:
        helper.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        helper.terminate()
        try:
            helper.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("job process %d did not stop: killed", helper.pid)
            helper.kill()
            helper.wait()
