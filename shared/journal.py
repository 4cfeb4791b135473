"""A job's local journal: what this machine uploaded and sent for a job, written ahead of each step, so
that `imgrec classify` run again on the same files resumes a job whose client was killed, without
redoing what is finished (``shared.resume`` reads it back).

One file per target and set of files named on the command line (``journal_path``), JSON lines,
appended and flushed before the step they announce:

    {"v": 1, "job_id": ..., "client_id": ..., "created": ..., "files": [[rid, path, name, size, mtime_ns], ...]}
    {"pack": key, "members": [[rid, offset, length], ...]}   before the pack's upload starts
    {"sending": [rid, ...]}                                   before its SendMessageBatch
    {"sent": [rid, ...]}                                      once SQS accepted them

A line is on disk (in the page cache) before the step starts, so a killed process leaves a journal
that over-reports, never under-reports: a request that may have been sent is marked "sending". The
file is locked while its job runs, so a second run of the same command cannot resume a job that is
still alive, and removed once the job's results are all in. Local only: nothing here touches AWS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shared import layout
from shared.config import Config
from shared.scan import Item, stamp

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1


class JournalBusy(RuntimeError):
    """Another process holds this journal: the same job is running now."""


def state_dir() -> Path:
    """Where journals live: $IMGREC_STATE_DIR, else the platform's per-user state folder."""
    override = os.environ.get("IMGREC_STATE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "imgrec" / "jobs"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "imgrec" / "jobs"


def journal_path(cfg: Config, paths: Iterable[str | Path]) -> Path:
    """The journal of a job on this target (endpoint or region and profile, buckets, queue, upload mode)
    for these command-line paths, in any order."""
    target = [cfg.endpoint_url or "", cfg.region if not cfg.endpoint_url else "", cfg.profile or "",
              cfg.input_bucket, cfg.output_bucket, cfg.request_queue, cfg.upload]
    named = sorted(os.path.abspath(os.path.expanduser(str(p))) for p in paths)
    digest = hashlib.sha256(json.dumps([target, named]).encode()).hexdigest()[:24]
    return state_dir() / f"{digest}.jsonl"


@dataclass(frozen=True)
class FileEntry:
    request_id: str
    name: str
    size: int
    mtime_ns: int


@dataclass
class Previous:
    """What a journal says an earlier run of the job did."""

    job_id: str
    client_id: str
    files: dict[str, FileEntry] = field(default_factory=dict)  # absolute path -> its request
    packs: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)  # key -> (rid, offset, length)
    sending: set[str] = field(default_factory=set)  # may have been sent (includes every sent one)
    sent: set[str] = field(default_factory=set)  # SQS accepted them


class JobJournal:
    """The open, locked journal file of one job. Methods after ``start`` append one line each."""

    def __init__(self, path: Path, fh: IO[str]):
        self.path = path
        self._fh = fh
        self._write_lock = threading.Lock()  # the uploader and the enqueuer write from their threads
        self.broken = False

    @classmethod
    def open(cls, path: Path) -> JobJournal:
        """Opens (creating) and locks the journal; JournalBusy when another process has it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open (and locked) until close()
        try:
            _lock(fh)
        except OSError:
            fh.close()
            raise JournalBusy(f"another imgrec process is running this job now (journal {path})") from None
        return cls(path, fh)

    def previous(self) -> Previous | None:
        """The earlier run's record, or None when there is none (or it is unreadable: logged)."""
        self._fh.seek(0)
        lines = self._fh.read().splitlines()
        if not lines:
            return None
        try:
            return _replay(lines)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignored an unreadable job journal %s: %s", self.path, exc)
            return None

    def start(self, job_id: str, client_id: str, items: dict[str, Item]) -> None:
        """Begins the record of a run: its job and every file's request (request id -> item)."""
        files = []
        for rid, item in items.items():
            size, mtime_ns = stamp(item.path) or (item.size, 0)
            files.append([rid, str(item.path), item.name, size, mtime_ns])
        self._fh.seek(0)
        self._fh.truncate()
        self._write({"v": JOURNAL_VERSION, "job_id": job_id, "client_id": client_id, "created": time.time(),
                     "files": files})

    def continue_run(self, job_id: str, client_id: str, items: dict[str, Item]) -> None:
        """A resumed run: the new client and the files as they are now, after what was recorded."""
        self._write({"resumed": job_id, "client_id": client_id,
                     "files": [[rid, str(item.path), item.name, *(stamp(item.path) or (item.size, 0))]
                               for rid, item in items.items()]})

    def pack(self, key: str, members: Sequence[tuple[str, int, int]]) -> None:
        self._write({"pack": key, "members": [list(m) for m in members]})

    def sending(self, rids: Sequence[str]) -> None:
        self._write({"sending": list(rids)})

    def sent(self, rids: Sequence[str]) -> None:
        self._write({"sent": list(rids)})

    def finish(self) -> None:
        """The job is over: the journal is removed."""
        self._remove()
        self.close()

    def close(self) -> None:
        """Unlocks the journal and leaves it for a later run to resume (removed if nothing was written)."""
        if not self._fh.closed:
            if self._fh.seek(0, os.SEEK_END) == 0:
                self._remove()
            if not self._fh.closed:
                self._fh.close()  # closing the file releases the lock

    def _remove(self) -> None:
        """Deletes the file, while still holding its lock where the system allows it (POSIX), so that no
        other run takes a file on its way out; Windows cannot delete an open file, so it is closed first."""
        if sys.platform == "win32":
            self._fh.close()
        self.path.unlink(missing_ok=True)

    def _write(self, record: dict) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._write_lock:
            if self.broken or self._fh.closed:
                return
            try:
                self._fh.seek(0, os.SEEK_END)
                self._fh.write(line)
                self._fh.flush()  # in the page cache: survives the process being killed
            except OSError as exc:
                # A journal that misses a step could later delete an input still in use: drop it whole.
                log.warning("job journal %s could not be written (%s): this job cannot be resumed", self.path, exc)
                self.broken = True
                self._remove()


def _replay(lines: list[str]) -> Previous:
    head = json.loads(lines[0])
    if head.get("v") != JOURNAL_VERSION or not layout.JOB_ID.fullmatch(str(head.get("job_id"))):
        raise ValueError(f"not a journal this build writes: {lines[0][:80]!r}")
    previous = Previous(job_id=head["job_id"], client_id=str(head.get("client_id", "")))

    def add_files(rows) -> None:
        for rid, path, name, size, mtime_ns in rows:
            if layout.REQUEST_ID.fullmatch(rid):
                previous.files[str(path)] = FileEntry(rid, str(name), int(size), int(mtime_ns))

    add_files(head["files"])
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except ValueError:
            break  # a line cut short by a kill: nothing after it was written
        if "resumed" in record:
            previous.client_id = str(record.get("client_id", previous.client_id))
            add_files(record["files"])
        elif "pack" in record:
            previous.packs[str(record["pack"])] = [(str(r), int(o), int(n)) for r, o, n in record["members"]]
        elif "sending" in record:
            previous.sending.update(map(str, record["sending"]))
        elif "sent" in record:
            previous.sent.update(map(str, record["sent"]))
            previous.sending.update(map(str, record["sent"]))
    return previous


if sys.platform == "win32":
    import msvcrt

    def _lock(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
