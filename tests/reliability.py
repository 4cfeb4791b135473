"""What a fault-injecting test saw, one JSON line per call, for docs/RELIABILITY.md (bench/reliability.py).

    reliability.record(fault="worker SIGKILLed mid-batch", images=60, results=results, seconds=elapsed)

The recorder counts for itself, from what it is given: ``lost`` (images with no result, no dead-letter
entry and no refusal the user was told of) and ``duplicated`` (results beyond the first for a request id,
or for a name). Rows go to the file named by IMGREC_RELIABILITY_OUT, read once when the session starts
(the autouse fixture clears IMGREC_* for each test); without it ``record`` counts and writes nothing.
The test still asserts 0 lost and 0 duplicated itself: the row is the evidence, not the check.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OUT_ENV = "IMGREC_RELIABILITY_OUT"

# Every fault or bad input the table has a row for, in its order, with what the injection does.
FAULTS: dict[str, str] = {
    "back-to-back jobs across scale-ins":
        "three 20-image jobs on an autoscaled local fleet (visibility timeout 60 s), each submitted the moment "
        "the scaler starts stopping the idle workers, while their last long polls are still open",
    "request naming a foreign bucket":
        "a request whose image is in another bucket on the same endpoint, which the worker's credentials reach",
    "request naming a foreign reply queue":
        "requests replying to a queue that exists but is not a reply queue, to another host name for the "
        "endpoint, and to another account",
    "request with bad ids":
        "a job id with '../' in it, and a key of another job's image under this job's id",
    "16-bit and other image modes":
        "a workload photo (in colour, and two in grey) as 16-bit, 32-bit and float grey, grey + alpha, "
        "16-bit RGB(A), RGBA, palette with transparency, GIF, CMYK (with and without the Adobe marker) and "
        "EXIF-rotated files, decoded and classified as a worker does; a result is right when its label is "
        "the plain 8-bit photo's",
    "endpoint that accepts connections and never answers":
        "`imgrec classify --endpoint` aimed at a loopback listener that accepts and never sends a byte",
    "worker SIGKILLed mid-batch":
        "SIGKILL to one of two workers while it holds a batch of a 100-image job: no drain, its batch comes "
        "back after the visibility timeout (10 s) and the other worker answers it",
    "two of three workers SIGKILLed at once":
        "SIGKILL to two of three workers at the same moment, each holding a batch of a 100-image job",
    "moto server frozen for 12 s":
        "SIGSTOP to the moto server mid-job, SIGCONT 12 s later: every call in flight times out meanwhile",
    "moto server killed mid-job, resubmitted to a fresh cloud":
        "SIGKILL to the moto server mid-job; the client must give every image back within a bounded time, "
        "then the same images go to a fresh embedded cloud",
    "request delivered twice":
        "every request message of a job sent twice to the request queue",
    "2,000-image soak with the autoscaler":
        "20 copies of the 100-image workload through an embedded cloud with the autoscaler on, at most 2 "
        "workers (bench/soak.py)",
    "client killed during upload, resumed":
        "the client process killed while it uploads, then the job resumed",
    "client killed during collection, resumed":
        "the client process killed while it collects results, then the job resumed",
    "awkward-file corpus":
        "a text file named .jpg, an empty file, a truncated JPEG and a PNG claiming 60000x60000 pixels beside "
        "three good images: one row each, an error row for each bad file (from the scan or from a worker)",
}

_append_lock = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """A result for tests whose answers are not shared.messages.Result objects (a decoded image, a request
    kept in the dead-letter queue): a name, an optional request id, an error or None."""

    name: str
    request_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Row:
    fault: str
    test: str
    images: int  # images (or requests) in
    results: int  # results out, duplicates included
    ok: int  # of those, answered with a label
    errors: int  # of those, answered with an error row
    dead_lettered: int  # requests accounted for by the dead-letter queue instead of a result
    refused: int  # images the client refused up front, telling the user why (nothing was accepted)
    lost: int
    duplicated: int
    unexpected: int  # results for no image that went in
    seconds: float
    note: str = ""
    day: str = ""  # the date it was recorded (ISO)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def _name(result: Any) -> str:
    return result if isinstance(result, str) else str(result.name)


def _request_id(result: Any) -> str | None:
    return None if isinstance(result, str) else getattr(result, "request_id", None) or None


def _ok(result: Any) -> bool:
    return True if isinstance(result, str) else bool(getattr(result, "ok", getattr(result, "error", None) is None))


def tally(fault: str, test: str, *, images: int, results: Sequence[Any], seconds: float,
          expected: Iterable[str] | None = None, dead_lettered: Iterable[Any] = (), refused: int = 0,
          note: str = "") -> Row:
    """The row for what a test saw. ``results``: objects with ``name`` (and ``request_id``, ``ok`` when
    they have them), or bare names; ``expected``: the names that went in, when the test knows them
    (otherwise only the counts are compared); ``dead_lettered``: names (or results) of requests kept in
    the dead-letter queue."""
    results = list(results)
    names = [_name(r) for r in results]
    rids = [rid for rid in map(_request_id, results) if rid is not None]
    kept = {_name(d) for d in dead_lettered}
    duplicated = max(len(names) - len(set(names)), len(rids) - len(set(rids)))
    if expected is not None:
        wanted = list(expected)
        if len(wanted) != images:
            raise ValueError(f"{len(wanted)} expected names for {images} images")
        counted = Counter(wanted)
        if max(counted.values(), default=1) > 1:
            raise ValueError("expected names must be unique: duplicates could not be told apart")
        accounted = set(names) | kept
        lost = max(0, sum(1 for name in wanted if name not in accounted) - refused)
        unexpected = len({n for n in names if n not in counted})
    else:
        distinct = len(set(rids)) if len(rids) == len(results) else len(set(names))
        lost = max(0, images - distinct - len(kept) - refused)
        unexpected = 0
    ok = sum(1 for r in results if _ok(r))
    return Row(fault=fault, test=test, images=images, results=len(results), ok=ok, errors=len(results) - ok,
               dead_lettered=len(kept), refused=refused, lost=lost, duplicated=duplicated, unexpected=unexpected,
               seconds=round(float(seconds), 2), note=note, day=datetime.date.today().isoformat())


class Recorder:
    """The ``reliability`` fixture: ``record(...)`` appends one row for the running test."""

    def __init__(self, test: str, out: str | os.PathLike | None):
        self.test = test
        self.out = Path(out) if out else None
        self.rows: list[Row] = []
        self._started = time.monotonic()

    def record(self, fault: str, *, images: int, results: Sequence[Any], seconds: float | None = None,
               expected: Iterable[str] | None = None, dead_lettered: Iterable[Any] = (), refused: int = 0,
               note: str = "") -> Row:
        """Counts lost and duplicated from ``results`` (see ``tally``) and appends the row when
        IMGREC_RELIABILITY_OUT was set; ``seconds`` defaults to the time since the test started."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: add it to tests.reliability.FAULTS")
        if seconds is None:
            seconds = time.monotonic() - self._started
        row = tally(fault, self.test, images=images, results=results, seconds=seconds, expected=expected,
                    dead_lettered=dead_lettered, refused=refused, note=note)
        self.rows.append(row)
        if self.out is not None:
            with _append_lock, open(self.out, "a", encoding="utf-8") as fh:
                fh.write(row.to_json() + "\n")
        return row


def read_rows(path: str | os.PathLike) -> list[Row]:
    """The rows in a file written by ``Recorder.record`` (a missing file: none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
