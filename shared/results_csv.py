"""The results contract of `imgrec classify`, `imgrec predict`, `imgrec results` and the desktop export.

Columns ``image,label,score,top5,error`` come first, then extra columns. ``image`` is the name the user
sees (path relative to the folder given, or the file name), ``top5`` is labels joined by ``|``, ``error``
is empty on success. Rows are sorted by image name, naturally (``test_2`` before ``test_10``); every
file submitted appears exactly once.

Exit-code rule: a run fails (exit 1) when a file that looks like an image, by name or by content,
failed, or was never sent (`imgrec results` of a job whose client stopped). Files skipped because they
are not images are reported, and requests still in progress are listed, but neither fails the run.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.job_manifest import IN_PROGRESS, NOT_SENT, PENDING
from shared.messages import Result
from shared.scan import Skipped

COLUMNS = ("image", "label", "score", "top5", "error")
EXTRA_COLUMNS = ("model", "worker", "latency_s", "request_id", "top5_scores")
FIELDS = COLUMNS + EXTRA_COLUMNS
TOP5_SEPARATOR = "|"

EXIT_OK = 0
EXIT_FAILED = 1  # an image (by name or content) could not be classified

_TABLE_NAME_WIDTH = 48


@dataclass(frozen=True)
class Row:
    """One line of the results: a classified image, an image that failed, or a skipped file."""

    image: str
    label: str = ""
    score: float | None = None
    top5: tuple[str, ...] = ()
    top5_scores: tuple[float, ...] = ()  # the top-5 labels' scores, in their order
    error: str = ""
    model: str = ""
    worker: str = ""
    latency_s: float | None = None
    request_id: str = ""
    looks_like_image: bool = True  # False only for skipped files that are not images by name or content

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def pending(self) -> bool:
        """A request with no result yet: in progress, or not sent (`imgrec results`)."""
        return self.error in PENDING

    @property
    def failed(self) -> bool:
        """Counts against the exit code: an image (by name or content) with an error."""
        return bool(self.error) and self.looks_like_image and not self.pending

    @property
    def skipped(self) -> bool:
        """A non-image that was reported and left alone: not a failure."""
        return bool(self.error) and not self.looks_like_image

    def to_dict(self) -> dict[str, str]:
        return {
            "image": self.image,
            "label": self.label,
            "score": "" if self.score is None else f"{self.score:.4f}",
            "top5": TOP5_SEPARATOR.join(self.top5),
            "error": self.error,
            "model": self.model,
            "worker": self.worker,
            "latency_s": "" if self.latency_s is None else f"{self.latency_s:.3f}",
            "request_id": self.request_id,
            "top5_scores": TOP5_SEPARATOR.join(f"{score:.4f}" for score in self.top5_scores),
        }


def latency_of(result: Result) -> float | None:
    """Seconds from submission to the result being written, when the worker reported both."""
    timings = result.timings
    if "submitted" in timings and "finished" in timings:
        return max(0.0, timings["finished"] - timings["submitted"])
    return timings.get("total_s")


def row_from_result(result: Result) -> Row:
    return Row(
        image=result.name,
        label=result.label or "",
        score=result.score if result.ok else None,
        top5=tuple(label for label, _score in result.top5) if result.ok else (),
        top5_scores=tuple(score for _label, score in result.top5) if result.ok else (),
        error=result.error or "",
        model=result.model or "",
        worker=result.worker_id or "",
        latency_s=latency_of(result),
        request_id=result.request_id,
        looks_like_image=True,  # it was sent because its content is an image
    )


def row_from_skipped(skipped: Skipped) -> Row:
    return Row(image=skipped.name, error=skipped.reason, looks_like_image=skipped.looks_like_image)


def to_rows(results: Iterable[Result] = (), skipped: Iterable[Skipped] = ()) -> list[Row]:
    """Results and skipped files as rows, sorted by image name."""
    rows = [row_from_result(r) for r in results] + [row_from_skipped(s) for s in skipped]
    return sort_rows(rows)


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> str:
    """Sorts file names as people do, ``test_2`` before ``test_10`` and case aside: a string, so that a Qt
    sort role can use it too."""
    return _DIGITS.sub(lambda digits: digits.group().zfill(24), name.casefold()) + "\0" + name


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (natural_key(row.image), row.request_id))


def write_csv(path_or_file: str | Path | IO[str], rows: Iterable[Row]) -> None:
    """Writes the header and one line per row, sorted by image name."""
    ordered = sort_rows(rows)
    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "w", newline="", encoding="utf-8") as fh:
            _write(fh, ordered)
    else:
        _write(path_or_file, ordered)


def _write(fh: IO[str], rows: Sequence[Row]) -> None:
    writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_dict())


def read_csv(path_or_file: str | Path | IO[str]) -> list[dict[str, str]]:
    """The rows of a results CSV as dicts (column -> text), in file order."""
    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    return list(csv.DictReader(path_or_file))


def row_from_dict(values: dict[str, str], looks_like_image: bool = True) -> Row:
    """A row read back from a results CSV (``read_csv``); ValueError when a number or a column is malformed."""
    def number(text: str | None) -> float | None:
        return float(text) if text else None

    def split(text: str | None) -> tuple[str, ...]:
        return tuple(text.split(TOP5_SEPARATOR)) if text else ()

    if not values.get("image"):
        raise ValueError("a row without an image name")
    scores = tuple(float(score) for score in split(values.get("top5_scores")))
    return Row(image=values["image"], label=values.get("label") or "", score=number(values.get("score")),
               top5=split(values.get("top5")), top5_scores=scores, error=values.get("error") or "",
               model=values.get("model") or "", worker=values.get("worker") or "",
               latency_s=number(values.get("latency_s")), request_id=values.get("request_id") or "",
               looks_like_image=looks_like_image)


def to_csv_text(rows: Iterable[Row]) -> str:
    buffer = io.StringIO()
    write_csv(buffer, rows)
    return buffer.getvalue()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def print_table(rows: Iterable[Row], file: IO[str] | None = None) -> None:
    """A readable table for a terminal: image, label, score, and the error when there is one."""
    file = file or sys.stdout
    ordered = sort_rows(rows)
    width = min(_TABLE_NAME_WIDTH, max([len("image")] + [len(r.image) for r in ordered]))
    label_width = min(32, max([len("label")] + [len(r.label) for r in ordered]))
    print(f"{'image':<{width}}  {'label':<{label_width}}  {'score':>6}  error", file=file)
    for row in ordered:
        score = "" if row.score is None else f"{row.score:.3f}"
        image, label = _clip(row.image, width), _clip(row.label, label_width)
        line = f"{image:<{width}}  {label:<{label_width}}  {score:>6}"
        if row.error:
            line += f"  {row.error}"
        print(line.rstrip(), file=file)


@dataclass(frozen=True)
class Tally:
    ok: int = 0
    failed: int = 0  # images with an error
    skipped: int = 0  # non-images left alone
    in_progress: int = 0
    not_sent: int = 0


def tally(rows: Iterable[Row]) -> Tally:
    counts = dict.fromkeys(("ok", "failed", "skipped", "in_progress", "not_sent"), 0)
    for row in rows:
        if row.ok:
            counts["ok"] += 1
        elif row.error == IN_PROGRESS:
            counts["in_progress"] += 1
        elif row.error == NOT_SENT:
            counts["not_sent"] += 1
        elif row.looks_like_image:
            counts["failed"] += 1
        else:
            counts["skipped"] += 1
    return Tally(**counts)


def exit_code(rows: Iterable[Row]) -> int:
    """Non-zero when a file that looks like an image (by name or content) failed or was never sent."""
    counts = tally(rows)
    return EXIT_FAILED if counts.failed or counts.not_sent else EXIT_OK


def summary_line(rows: Iterable[Row], seconds: float | None = None) -> str:
    """One line for stderr, e.g. ``98 classified, 1 failed, 3 skipped (not images) in 12.3 s``."""
    counts = tally(rows)
    parts = [f"{counts.ok} classified", f"{counts.failed} failed"]
    if counts.in_progress:
        parts.append(f"{counts.in_progress} in progress")
    if counts.not_sent:
        parts.append(f"{counts.not_sent} not sent")
    if counts.skipped:
        parts.append(f"{counts.skipped} skipped (not images)")
    line = ", ".join(parts)
    if seconds is not None:
        line += f" in {seconds:.1f} s"
        if counts.ok and seconds > 0:
            line += f" ({(counts.ok + counts.failed) / seconds:.1f} images/s)"
    return line
