"""One job in a helper process: ``python -m desktop.job_process``. No Qt here.

Why a process and not only a thread: uploading through boto3 keeps a dozen Python threads busy
signing and sending requests. In the window's own interpreter they compete with the GUI thread for
the interpreter lock, and the table, which calls back into Python for every cell it paints, froze
for hundreds of milliseconds at a time (bench/gui_latency.py). In a process of its own the job can
use the CPU as it likes while the window keeps its lock to itself.

The protocol is JSON lines. The parent writes one line on stdin: the Config, the plan and where
to record history; later lines are commands (``cancel``: stop uploading). The child writes events
on stdout:

    {"event": "uploaded", "files": 3, "bytes": 6144, "saved": 0}   (saved: bytes not sent, with previews)
    {"event": "enqueued", "count": 100, "cancelled": false}
    {"event": "rows", "rows": [{...TableRow...}, ...]}
    {"event": "done", "status": "finished", "results": 100, "seconds": 12.5}
    {"event": "error", "message": "...", "kind": "ClientError"}

Rows travel as :func:`row_to_dict` objects, read back by :func:`decode_event`: the one codec between
the helper and the window (a Result becomes a TableRow here, once).

SIGTERM (the window is closing) stops waiting for results; the reply queue is deleted on the way out.

The helper is the one writer of a job's history (its record, its files, its rows, its status): the rows
are already here, so the window's process does no SQLite transaction while a job runs (the interpreter
lock stays with the GUI thread), and a job whose window was killed is still recorded as far as it got,
for History to re-collect. The app writes only what comes after a job: its cost, rows re-collected.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop.history import CANCELLED, FINISHED, RUNNING, HistoryStore, JobRecord
from desktop.rows import TableRow, row_from_result, row_from_skipped
from shared.children import config_env
from shared.config import Config, load_config
from shared.job import JobClient
from shared.scan import Item, Skipped

log = logging.getLogger(__name__)

CANCEL = "cancel"
HISTORY_FLUSH_SECONDS = 0.5  # results are written to SQLite in batches at most this old
HISTORY_FLUSH_ROWS = 200
ROWS_PER_EVENT_SECONDS = 0.05  # results are sent to the window in small batches


@dataclasses.dataclass(frozen=True)
class JobPlan:
    """What the user asked for: the images found, the files skipped."""

    job_id: str
    title: str
    items: tuple[Item, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.items)


class Abandoned(Exception):
    """The window stopped waiting (it is closing); the results stay in the output bucket."""


# --- wire format --------------------------------------------------------------------------------
def encode_request(cfg: Config, plan: JobPlan, history: str | None, target: str) -> str:
    return json.dumps({
        "cfg": config_env(cfg),  # the one encoding of settings for a child process (shared.children)
        "sources": dict(cfg.sources),
        "plan": {
            "job_id": plan.job_id,
            "title": plan.title,
            "items": [[str(i.path), i.name, i.size, i.suffix] for i in plan.items],
            "skipped": [[s.name, s.reason, s.looks_like_image] for s in plan.skipped],
        },
        "history": history,
        "target": target,
    })


def decode_request(line: str) -> tuple[Config, JobPlan, str | None, str]:
    data = json.loads(line)
    cfg = dataclasses.replace(load_config(env=data["cfg"]), sources=dict(data.get("sources", {})))
    plan = data["plan"]
    items = tuple(Item(path=Path(p), name=n, size=int(size), suffix=suffix) for p, n, size, suffix in plan["items"])
    skipped = tuple(Skipped(name=n, reason=r, looks_like_image=bool(lk)) for n, r, lk in plan["skipped"])
    return cfg, JobPlan(plan["job_id"], plan["title"], items, skipped), data.get("history"), data["target"]


def row_to_dict(row: TableRow) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    data["top5"] = [[label, score] for label, score in row.top5]
    return data


def row_from_dict(data: dict[str, Any]) -> TableRow:
    data = dict(data)
    data["top5"] = tuple((str(label), float(score)) for label, score in data.get("top5", ()))
    return TableRow(**data)


def decode_event(line: bytes) -> dict[str, Any] | None:
    """One event line of the helper, its rows as TableRows and its counts as numbers; None for a line
    that is not an event (logged)."""
    try:
        event = json.loads(line)
        kind = event["event"]
        if kind == "rows":
            return {"event": kind, "rows": [row_from_dict(r) for r in event["rows"]]}
        if kind == "uploaded":
            return {"event": kind, "files": int(event["files"]), "bytes": int(event["bytes"]),
                    "saved": int(event.get("saved", 0))}
        if kind == "enqueued":
            return {"event": kind, "count": int(event["count"]), "cancelled": bool(event["cancelled"])}
        if kind in ("done", "error"):
            return event
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    log.debug("job process said: %s", line.decode(errors="replace").rstrip())
    return None


# --- the job ------------------------------------------------------------------------------------
class _HistoryBatch:
    """Results written to SQLite a batch at a time (one transaction per batch, not per row)."""

    def __init__(self, history: HistoryStore | None, job_id: str):
        self.history, self.job_id = history, job_id
        self.rows: list[TableRow] = []
        self.since = time.monotonic()

    def add(self, row: TableRow) -> None:
        self.rows.append(row)
        if len(self.rows) >= HISTORY_FLUSH_ROWS or time.monotonic() - self.since >= HISTORY_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.rows and self.history is not None:
            self.history.add_rows(self.job_id, self.rows)
        self.rows, self.since = [], time.monotonic()


def execute(cfg: Config, plan: JobPlan, history: HistoryStore | None, target: str,
            emit: Callable[[dict[str, Any]], None], cancelled: Callable[[], bool],
            abandoned: threading.Event) -> dict[str, Any]:
    """Uploads, enqueues and collects one job; returns the ``done`` event."""
    started = time.monotonic()
    paths = {item.name: str(item.path) for item in plan.items}
    if history is not None:
        history.add_job(JobRecord(job_id=plan.job_id, title=plan.title, target=target,
                                  output_bucket=cfg.output_bucket))
        history.add_items(plan.job_id, paths.items())
        history.add_rows(plan.job_id, [row_from_skipped(s, plan.job_id) for s in plan.skipped])

    client = JobClient(cfg)

    def uploaded(_item, files: int, nbytes: int) -> None:
        saved = client.upload_tally(plan.job_id).saved_bytes
        emit({"event": "uploaded", "files": files, "bytes": nbytes, "saved": saved})

    try:
        job = client.submit(list(plan.items), on_uploaded=uploaded,
                            cancelled=lambda: cancelled() or abandoned.is_set(),
                            job_id=plan.job_id, skipped=list(plan.skipped))
        if history is not None:
            history.set_status(plan.job_id, RUNNING)
        # Every item submitted comes back from collect() exactly once, failures and cancellations included.
        emit({"event": "enqueued", "count": job.total, "cancelled": job.cancelled})

        batch = _HistoryBatch(history, plan.job_id)
        pending: list[dict[str, Any]] = []
        last_sent = time.monotonic()
        count = 0
        try:
            for result in client.collect(job):
                if abandoned.is_set():
                    raise Abandoned("stopped waiting for results")
                row = row_from_result(result, paths.get(result.name))
                batch.add(row)
                pending.append(row_to_dict(row))
                count += 1
                if time.monotonic() - last_sent >= ROWS_PER_EVENT_SECONDS:
                    emit({"event": "rows", "rows": pending})
                    pending, last_sent = [], time.monotonic()
        finally:
            batch.flush()
            if pending:
                emit({"event": "rows", "rows": pending})
        status = CANCELLED if job.cancelled else FINISHED
        if history is not None:
            history.set_status(plan.job_id, status)
        return {"event": "done", "status": status, "results": count, "seconds": time.monotonic() - started}
    finally:
        client.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s job: %(message)s",
                        stream=sys.stderr)
    out_lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    abandoned = threading.Event()
    cancel = threading.Event()

    def stop(_signum=None, _frame=None) -> None:
        # Raised in the main thread wherever it waits (collect wakes up every quarter second), so
        # the finally clauses run: the reply queue is deleted, the last results are stored.
        if not abandoned.is_set():
            abandoned.set()
            raise Abandoned("the window stopped waiting for results")

    signal.signal(signal.SIGTERM, stop)

    try:
        cfg, plan, history_path, target = decode_request(sys.stdin.readline())
    except (ValueError, KeyError, TypeError) as exc:
        emit({"event": "error", "message": f"bad job request: {exc}", "kind": type(exc).__name__})
        return 2

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == CANCEL:
                cancel.set()
        if not abandoned.is_set():  # stdin closed: the window went away without a word
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=commands, name="commands", daemon=True).start()
    history = HistoryStore(history_path) if history_path else None
    try:
        emit(execute(cfg, plan, history, target, emit, cancel.is_set, abandoned))
    except BaseException as exc:  # noqa: BLE001 - the window shows it; no traceback on its screen
        text = str(exc).strip() or type(exc).__name__
        log.debug("job failed", exc_info=True)
        emit({"event": "error", "message": text.splitlines()[0], "kind": type(exc).__name__})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
