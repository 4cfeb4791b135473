"""Job history in a local SQLite database: jobs, the images each one sent, and their results.

Plain Python, no Qt: the GUI calls it from background tasks only. Each call opens its own short
connection, so any thread may use one store; WAL mode lets a reader and the writer overlap.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from desktop.rows import DONE, FAILED, SKIPPED, TableRow
from shared.job_cost import JobCost

SCHEMA_VERSION = 1  # bump with a migration when a table changes
BUSY_TIMEOUT_SECONDS = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id        TEXT PRIMARY KEY,
    created       REAL NOT NULL,
    title         TEXT NOT NULL,
    target        TEXT NOT NULL,
    output_bucket TEXT NOT NULL,
    total         INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (  -- every image submitted (names are unique within a job)
    job_id     TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    path       TEXT,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS costs (  -- what a finished job cost (shared.job_cost); made by newer apps only
    job_id     TEXT PRIMARY KEY REFERENCES jobs(job_id) ON DELETE CASCADE,
    usd        REAL,           -- NULL: not fully priced
    short      TEXT NOT NULL,  -- the History tab's cell: "local: free", "$0.0123"
    line       TEXT NOT NULL   -- the whole sentence: what it is made of
);
CREATE TABLE IF NOT EXISTS rows (  -- one per image or skipped file: a result stored twice is stored once
    job_id     TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    path       TEXT,
    label      TEXT NOT NULL DEFAULT '',
    score      REAL,
    top5       TEXT NOT NULL DEFAULT '[]',
    error      TEXT NOT NULL DEFAULT '',
    worker     TEXT NOT NULL DEFAULT '',
    model      TEXT NOT NULL DEFAULT '',
    latency_s  REAL,
    status     TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);
"""

# Job states.
UPLOADING, RUNNING, FINISHED, CANCELLED, INTERRUPTED = "uploading", "running", "finished", "cancelled", "interrupted"


class HistoryError(RuntimeError):
    pass


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    title: str  # what was submitted, e.g. "photos (+2 more)"
    target: str  # where it ran: an endpoint URL or "AWS us-east-1"
    output_bucket: str
    created: float = 0.0
    total: int = 0  # images submitted
    status: str = UPLOADING


@dataclass(frozen=True)
class JobSummary:
    record: JobRecord
    done: int
    failed: int
    skipped: int
    missing: int  # images submitted whose result is not in the database
    cost: str = ""  # what it cost, short ("local: free", "$0.0123"); empty: not known
    cost_line: str = ""  # the same, in a sentence


@dataclass(frozen=True)
class JobHistory:
    summary: JobSummary
    rows: list[TableRow]
    paths: dict[str, str | None]  # name -> local path, for every image submitted
    missing: list[str]  # names of images with no result stored


class HistoryStore:
    """Cheap to make on the GUI thread: the file is opened (and its schema made) on first use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ready = False
        self._ready_lock = threading.Lock()

    def _prepare(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._open()) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(f"{self.path} was written by a newer imgrec (schema {version})")
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        with self._ready_lock:
            if not self._ready:
                self._prepare()
                self._ready = True
        return self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open the history database {self.path}: {exc}") from None
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    # --- writes -------------------------------------------------------------------------------
    def add_job(self, record: JobRecord) -> JobRecord:
        record = record if record.created else JobRecord(**{**record.__dict__, "created": time.time()})
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO jobs (job_id, created, title, target, output_bucket, total, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.job_id, record.created, record.title, record.target, record.output_bucket,
                 record.total, record.status),
            )
        return record

    def add_items(self, job_id: str, items: Iterable[tuple[str, str | None]]) -> None:
        """(name, path) of each image submitted; the job's total follows."""
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO items (job_id, name, path) VALUES (?, ?, ?)",
                           [(job_id, name, path) for name, path in items])
            db.execute("UPDATE jobs SET total = (SELECT COUNT(*) FROM items WHERE job_id = ?) WHERE job_id = ?",
                       (job_id, job_id))

    def add_rows(self, job_id: str, rows: Sequence[TableRow]) -> None:
        """Results and skipped files, keyed by name: a result stored twice is stored once."""
        if not rows:
            return
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO rows (job_id, name, request_id, path, label, score, top5, error, worker,"
                " model, latency_s, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, r.name, r.request_id, r.path, r.label, r.score, json.dumps([list(t) for t in r.top5]),
                     r.error, r.worker, r.model, r.latency_s, r.status)
                    for r in rows
                ],
            )

    def set_cost(self, job_id: str, cost: JobCost) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO costs (job_id, usd, short, line) VALUES (?, ?, ?, ?)",
                       (job_id, cost.usd, cost.short(), cost.line()))

    def set_status(self, job_id: str, status: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE jobs SET status = ? WHERE job_id = ?", (status, job_id))

    def mark_interrupted(self) -> int:
        """Jobs left uploading or running by a previous run of the app that did not finish them."""
        with closing(self._connect()) as db, db:
            return db.execute("UPDATE jobs SET status = ? WHERE status IN (?, ?)",
                              (INTERRUPTED, UPLOADING, RUNNING)).rowcount

    # --- reads --------------------------------------------------------------------------------
    def jobs(self, limit: int = 500) -> list[JobSummary]:
        """The most recent jobs first, with their counts."""
        with closing(self._connect()) as db:
            cursor = db.execute(
                "SELECT j.job_id, j.title, j.target, j.output_bucket, j.created, j.total, j.status,"
                " (SELECT COUNT(*) FROM rows r WHERE r.job_id = j.job_id AND r.status = ?),"
                " (SELECT COUNT(*) FROM rows r WHERE r.job_id = j.job_id AND r.status = ?),"
                " (SELECT COUNT(*) FROM rows r WHERE r.job_id = j.job_id AND r.status = ?),"
                " (SELECT COUNT(*) FROM items i WHERE i.job_id = j.job_id AND NOT EXISTS"
                "   (SELECT 1 FROM rows r WHERE r.job_id = i.job_id AND r.name = i.name)),"
                " c.short, c.line"
                " FROM jobs j LEFT JOIN costs c ON c.job_id = j.job_id ORDER BY j.created DESC LIMIT ?",
                (DONE, FAILED, SKIPPED, limit),
            )
            return [_summary(row) for row in cursor.fetchall()]

    def summary(self, job_id: str) -> JobSummary:
        found = [job for job in self.jobs(limit=1_000_000) if job.record.job_id == job_id]
        if not found:
            raise HistoryError(f"no job {job_id} in the history")
        return found[0]

    def load(self, job_id: str) -> JobHistory:
        summary = self.summary(job_id)
        with closing(self._connect()) as db:
            paths = dict(db.execute("SELECT name, path FROM items WHERE job_id = ?", (job_id,)).fetchall())
            rows = [
                TableRow(name=name, path=path, label=label, score=score,
                         top5=tuple((str(lbl), float(s)) for lbl, s in json.loads(top5)),
                         error=error, worker=worker, model=model, latency_s=latency,
                         request_id=request_id, job_id=job_id, status=status)
                for name, request_id, path, label, score, top5, error, worker, model, latency, status in db.execute(
                    "SELECT name, request_id, path, label, score, top5, error, worker, model, latency_s, status"
                    " FROM rows WHERE job_id = ? ORDER BY name", (job_id,))
            ]
        have = {row.name for row in rows}
        missing = sorted(name for name in paths if name not in have)
        return JobHistory(summary=summary, rows=rows, paths=paths, missing=missing)


def _summary(row: tuple) -> JobSummary:
    job_id, title, target, bucket, created, total, status, done, failed, skipped, missing, cost, line = row
    record = JobRecord(job_id=job_id, title=title, target=target, output_bucket=bucket, created=created,
                       total=total, status=status)
    return JobSummary(record=record, done=int(done), failed=int(failed), skipped=int(skipped), missing=int(missing),
                      cost=cost or "", cost_line=line or "")
