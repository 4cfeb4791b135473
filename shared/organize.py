"""Sorting classified images into folders by label: ``DEST/<label>/``, ``DEST/_uncertain/`` under a score,
``DEST/_failed/``; copied, or moved with ``move=True``, and undone with :func:`undo`.

    plan = plan_organize(entries, dest, min_score=0.3, move=True)   # looks, touches nothing
    print(plan.counts())                                           # the preview: files per folder
    report = organize(plan)                                        # does it
    undo(dest)                                                     # puts every moved file back

Nothing is ever lost or overwritten, even when the run is killed part way:
- every step is written to the manifest ``DEST/.imgrec-organize.jsonl`` (what went where) *before* it
  happens, and marked done after;
- a file appears at its target whole or not at all: a copy goes to a hidden partial name first and is
  renamed into place; a move is a rename, or across file systems a copy renamed into place and only
  then the original removed;
- a name already taken in the target folder gets `` (2)``, `` (3)``… before its extension;
- a file that changed or vanished since it was classified is skipped with the reason;
- an XMP sidecar beside an image (``photo.jpg.xmp``) goes with it.
:func:`undo` replays the manifest backwards: moved files go back to where they were, copies are removed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.scan import stamp

UNCERTAIN = "_uncertain"
FAILED = "_failed"
MANIFEST = ".imgrec-organize.jsonl"
PARTIAL_SUFFIX = ".imgrec-partial"
SIDECAR_SUFFIX = ".xmp"
MAX_FOLDER_NAME = 100

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_folder_name(label: str) -> str:
    """A folder name every file system takes for this label: no separators, reserved characters, control
    characters, trailing dots or spaces, or Windows device names ("con" -> "con_")."""
    name = _UNSAFE.sub("_", label).strip().rstrip(". ")[:MAX_FOLDER_NAME].rstrip(". ")
    if not name or name in (".", ".."):
        return "_unnamed"
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name += "_"
    if name in (UNCERTAIN, FAILED):  # a label cannot take the place of our own folders
        name += "_"
    return name


@dataclass(frozen=True)
class Entry:
    """A classified file: where it is, what the model said, and how it looked when it was classified."""

    path: Path
    label: str = ""
    score: float | None = None
    error: str = ""
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) when classified; None: not checked


@dataclass(frozen=True)
class Placement:
    source: Path
    target: Path
    folder: str  # the folder under DEST: a safe label, UNCERTAIN or FAILED


@dataclass
class Plan:
    dest: Path
    move: bool
    placements: list[Placement] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why it stays where it is)

    def counts(self) -> list[tuple[str, int]]:
        """Files per folder, largest first: the preview shown before anything moves."""
        counted = Counter(p.folder for p in self.placements)
        return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Report:
    placed: list[Placement] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _folder_of(entry: Entry, min_score: float) -> str:
    if entry.error or not entry.label:
        return FAILED
    if entry.score is not None and entry.score < min_score:
        return UNCERTAIN
    return safe_folder_name(entry.label)


def _changed(entry: Entry) -> str | None:
    now = stamp(entry.path)
    if now is None:
        return "skipped: the file is gone or unreadable since it was classified"
    if entry.stamp is not None and now != entry.stamp:
        return "skipped: the file changed since it was classified"
    return None


def _free_name(folder: Path, name: str, taken: set[Path]) -> Path:
    stem, suffix = os.path.splitext(name)
    candidate, n = folder / name, 1
    while candidate in taken or os.path.lexists(candidate) or os.path.lexists(_sidecar(candidate)):
        n += 1
        candidate = folder / f"{stem} ({n}){suffix}"
    taken.add(candidate)
    return candidate


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def plan_organize(entries: Iterable[Entry], dest: str | Path, *, min_score: float = 0.0,
                  move: bool = False) -> Plan:
    """Where each file would go; touches nothing."""
    dest = Path(os.path.abspath(dest))
    plan = Plan(dest=dest, move=move)
    taken: set[Path] = set()
    seen: set[Path] = set()
    for entry in entries:
        source = Path(os.path.abspath(entry.path))
        if source in seen:
            continue
        seen.add(source)
        if dest == source.parent or dest in source.parents:
            plan.skipped.append((source, "skipped: already inside the destination"))
            continue
        reason = _changed(entry)
        if reason:
            plan.skipped.append((source, reason))
            continue
        folder = _folder_of(entry, min_score)
        plan.placements.append(Placement(source, _free_name(dest / folder, source.name, taken), folder))
    return plan


class _Manifest:
    """The write-ahead record in DEST: one JSON line per step before it happens, one when it is done."""

    def __init__(self, dest: Path):
        dest.mkdir(parents=True, exist_ok=True)
        self._fh = open(dest / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())  # a step is on disk before the file system is touched for it

    def close(self) -> None:
        self._fh.close()


def _place(source: Path, target: Path, move: bool) -> None:
    """``source`` at ``target``, whole or not at all; with ``move``, then gone from where it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        raise FileExistsError(f"{target} appeared meanwhile")
    if move:
        try:
            os.rename(source, target)  # the same file system: atomic
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # another file system: copy, then remove
                raise
    partial = target.with_name("." + target.name + PARTIAL_SUFFIX)
    shutil.copy2(source, partial)
    os.replace(partial, target)
    if move:
        os.unlink(source)


def organize(plan: Plan, on_placed: Callable[[Placement], None] | None = None) -> Report:
    """Carries out the plan (see the module's docstring for what keeps every file safe)."""
    report = Report(skipped=list(plan.skipped))
    manifest = _Manifest(plan.dest)
    op = "move" if plan.move else "copy"
    try:
        for placement in plan.placements:
            steps = [(placement.source, placement.target)]
            if os.path.isfile(_sidecar(placement.source)):
                steps.append((_sidecar(placement.source), _sidecar(placement.target)))
            try:
                for source, target in steps:
                    manifest.write({"op": op, "src": str(source), "dst": str(target)})
                    _place(source, target, plan.move)
                    manifest.write({"done": str(target)})
            except OSError as exc:
                report.skipped.append((placement.source, f"skipped: {exc.strerror or exc}"))
                continue
            report.placed.append(placement)
            if on_placed is not None:
                on_placed(placement)
    finally:
        manifest.close()
    return report


@dataclass
class UndoReport:
    restored: int = 0  # moved files put back
    removed: int = 0  # copies removed
    problems: list[str] = field(default_factory=list)


def undo(dest: str | Path) -> UndoReport:
    """Puts back every file that organizing into ``dest`` moved and removes the copies it made, latest
    first, then the manifest and the folders left empty. Raises FileNotFoundError without a manifest."""
    dest = Path(os.path.abspath(dest))
    path = dest / MANIFEST
    steps = []
    done: set[Path] = set()  # targets whose step finished
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break  # cut short by a kill: nothing after it happened
        if "op" in record:
            steps.append((record["op"], Path(record["src"]), Path(record["dst"])))
        elif "done" in record:
            done.add(Path(record["done"]))
    report = UndoReport()
    for op, source, target in reversed(steps):
        partial = target.with_name("." + target.name + PARTIAL_SUFFIX)
        if os.path.lexists(partial):
            os.unlink(partial)  # a copy that was cut short
        if not os.path.lexists(target):
            continue  # the step never happened
        if op == "move" and os.path.lexists(source):
            if target in done:  # a finished move, and a new file at the old place since: keep both
                report.problems.append(f"{target}: not put back, {source} is taken by another file now")
            else:  # a move across file systems killed before it removed the original: target is a copy
                os.unlink(target)
            continue
        if op == "copy":
            os.unlink(target)
            report.removed += 1
            continue
        source.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(target, source)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                report.problems.append(f"{target}: could not be put back to {source}: {exc.strerror or exc}")
                continue
            _place(target, source, move=True)
        report.restored += 1
    if not report.problems:
        path.unlink()
        for folder in sorted((p for p in dest.iterdir() if p.is_dir()), reverse=True):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                pass
    return report
