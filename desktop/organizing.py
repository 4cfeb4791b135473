"""Organize, undo and keywords for the app: Task bodies over shared.organize and shared.xmp (which do the
work and keep every file safe). Plain Python, no widgets: they run off the GUI thread.

Organizing is cancellable between files: what was placed stays placed, recorded in the manifest, and
Undo organize puts it back like any other run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop.rows import SKIPPED, TableRow
from desktop.tasks import Task
from shared import organize as organizing
from shared.xmp import XmpError, keywords, write_keywords

PROGRESS_EVERY = 25  # files between progress reports
NOT_HERE = "skipped: not on this computer (it was never read from a file here)"

Stamp = tuple[int, int] | None


def entries_for(rows: Iterable[TableRow], stamps: Mapping[str, Stamp]) -> tuple[list[organizing.Entry], list[str]]:
    """(entries for the rows with a file here, names of the rows without one). ``stamps``: how each file
    looked when it was sent (path -> (size, mtime_ns)); a file without one is only checked to exist."""
    entries, absent = [], []
    for row in rows:
        if row.status == SKIPPED:
            continue
        if not row.path:
            absent.append(row.name)
            continue
        entries.append(organizing.Entry(path=Path(row.path), label=row.label, score=row.score, error=row.error,
                                        stamp=stamps.get(row.path)))
    return entries, absent


def plan(task: Task, rows: Sequence[TableRow], stamps: Mapping[str, Stamp], dest: str, min_score: float,
         move: bool) -> organizing.Plan:
    """A Task body: where each file would go (looks at every file; touches nothing)."""
    entries, absent = entries_for(rows, stamps)
    found = organizing.plan_organize(entries, dest, min_score=min_score, move=move)
    found.skipped.extend((Path(name), NOT_HERE) for name in absent)
    return found


class Stopped(Exception):
    """Cancelled between two files."""


@dataclass
class Organized:
    dest: Path
    move: bool
    placed: list[organizing.Placement] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    stopped: bool = False  # cancelled part way: what was placed stays, and can be undone

    @property
    def moved(self) -> dict[str, str]:
        """Old path -> new path of each file moved (none for copies)."""
        return {str(p.source): str(p.target) for p in self.placed} if self.move else {}


def run(task: Task, found: organizing.Plan) -> Organized:
    """A Task body: carries out the plan; reports (files done, files in the plan)."""
    outcome = Organized(dest=found.dest, move=found.move)
    total = len(found.placements)

    def placed(placement: organizing.Placement) -> None:
        outcome.placed.append(placement)
        if len(outcome.placed) % PROGRESS_EVERY == 0:
            task.report((len(outcome.placed), total))
        if task.cancelled():
            raise Stopped

    try:
        report = organizing.organize(found, on_placed=placed)
    except Stopped:
        outcome.stopped = True
        outcome.skipped = list(found.skipped)
        return outcome
    outcome.skipped = report.skipped
    task.report((total, total))
    return outcome


def undo(task: Task, dest: str) -> organizing.UndoReport:
    """A Task body: puts back what organizing into ``dest`` moved and removes its copies."""
    return organizing.undo(dest)


# --- keywords ----------------------------------------------------------------------------------
@dataclass
class KeywordsWritten:
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image, why)
    stopped: bool = False


def write_sidecars(task: Task, rows: Sequence[TableRow], top5_at_least: float | None) -> KeywordsWritten:
    """A Task body: keywords into each classified image's XMP sidecar; reports (done, total)."""
    outcome = KeywordsWritten()
    chosen = [row for row in rows if row.ok and row.label]
    for n, row in enumerate(chosen, 1):
        if task.cancelled():
            outcome.stopped = True
            break
        if not row.path:
            outcome.failed.append((row.name, NOT_HERE))
            continue
        try:
            write_keywords(Path(row.path), keywords(row.label, row.top5, top5_at_least))
            outcome.written += 1
        except (OSError, XmpError) as exc:
            outcome.failed.append((row.name, str(exc)))
        if n % PROGRESS_EVERY == 0:
            task.report((n, len(chosen)))
    return outcome
