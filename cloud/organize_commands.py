"""What `imgrec classify` does with the labels once it has them (`--xmp`, `--organize DEST`), and
`imgrec organize --undo DEST`. The work itself is in shared.organize and shared.xmp."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared import organize as organizing
from shared.config import Config
from shared.messages import Result
from shared.scan import Item, stamp
from shared.xmp import XmpError, keywords, write_keywords

SHOWN_FOLDERS = 25  # the preview lists this many folders, then a count of the rest


class UsageError(ValueError):
    """Options that do not go together; checked before any work starts."""


def check_options(args: argparse.Namespace) -> None:
    organize_to = getattr(args, "organize", None)
    for flag, used in (("--move", getattr(args, "move", False)), ("--dry-run", getattr(args, "dry_run", False))):
        if used and not organize_to:
            raise UsageError(f"{flag} goes with --organize DEST")
    if getattr(args, "xmp_top5", None) is not None and not getattr(args, "xmp", False):
        raise UsageError("--xmp-top5 goes with --xmp")
    if not 0.0 <= (getattr(args, "min_score", 0.0) or 0.0) <= 1.0:
        raise UsageError("--min-score must be between 0 and 1")


def wants_files(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "organize", None) or getattr(args, "xmp", False))


def stamps(items: Sequence[Item]) -> dict[Path, tuple[int, int] | None]:
    """How each file looked when it was classified, to tell later whether it changed since."""
    return {item.path: stamp(item.path) for item in items}


def apply(args: argparse.Namespace, items: Sequence[Item], results: Sequence[Result],
          stamped: dict[Path, tuple[int, int] | None]) -> None:
    """Keywords into sidecars, then the files into folders, as the options ask."""
    by_name = {item.name: item for item in items}
    entries = [organizing.Entry(path=by_name[r.name].path, label=r.label or "", score=r.score, error=r.error or "",
                                stamp=stamped.get(by_name[r.name].path))
               for r in results if r.name in by_name]
    dry_run = getattr(args, "dry_run", False)
    if getattr(args, "xmp", False) and not dry_run:
        _write_sidecars(args, entries, results, by_name)
    if getattr(args, "organize", None):
        _organize(args, entries, dry_run)


def _write_sidecars(args, entries, results, by_name) -> None:
    least = getattr(args, "xmp_top5", None)
    written = failed = 0
    for result in results:
        if not result.ok or result.name not in by_name:
            continue
        try:
            write_keywords(by_name[result.name].path, keywords(result.label or "", result.top5, least))
            written += 1
        except (OSError, XmpError) as exc:
            failed += 1
            print(f"xmp: {result.name}: {exc}", file=sys.stderr)
    print(f"xmp: keywords written to {written} sidecar(s)" + (f", {failed} failed" if failed else ""),
          file=sys.stderr)


def _organize(args, entries, dry_run: bool) -> None:
    plan = organizing.plan_organize(entries, args.organize, min_score=getattr(args, "min_score", 0.0) or 0.0,
                                    move=getattr(args, "move", False))
    verb = "move" if plan.move else "copy"
    counts = plan.counts()
    print(f"organize into {plan.dest} ({verb}): {len(plan.placements)} file(s) in {len(counts)} folder(s)",
          file=sys.stderr)
    for folder, n in counts[:SHOWN_FOLDERS]:
        print(f"  {folder}: {n}", file=sys.stderr)
    if len(counts) > SHOWN_FOLDERS:
        print(f"  … and {len(counts) - SHOWN_FOLDERS} more folder(s)", file=sys.stderr)
    for path, reason in plan.skipped:
        print(f"  {path}: {reason}", file=sys.stderr)
    if dry_run:
        print("dry run: nothing was copied or moved", file=sys.stderr)
        return
    report = organizing.organize(plan)
    for path, reason in report.skipped[len(plan.skipped):]:
        print(f"  {path}: {reason}", file=sys.stderr)
    print(f"{len(report.placed)} file(s) {'moved' if plan.move else 'copied'}, {len(report.skipped)} skipped; "
          f"what went where: {plan.dest / organizing.MANIFEST} (undo: imgrec organize --undo {plan.dest})",
          file=sys.stderr)


def undo(cfg: Config, args: argparse.Namespace) -> int:
    """`imgrec organize --undo DEST`."""
    try:
        report = organizing.undo(args.undo)
    except FileNotFoundError:
        print(f"imgrec organize: {args.undo} has no {organizing.MANIFEST}: nothing was organized there",
              file=sys.stderr)
        return 2
    print(f"undone: {report.restored} file(s) put back, {report.removed} copie(s) removed", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if report.problems else 0
