"""Walks what the user submitted and decides, by content, which files are images.

CONTRACT (implemented by the job-client work): see the docstrings; names are stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """An image to classify."""
    path: Path  # absolute path on disk
    name: str  # what the user sees: path relative to the folder given, or the file name for a file argument
    size: int  # bytes
    suffix: str  # ".jpg" etc., from the detected content type


@dataclass(frozen=True)
class Skipped:
    """A file that was not sent: not an image (by content), unreadable, or empty."""
    name: str
    reason: str  # e.g. "skipped: not an image (text file)"
    looks_like_image: bool  # by name or content: a skipped file that looked like an image fails the run


@dataclass
class ScanResult:
    images: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def scan(paths: Iterable[str | Path]) -> ScanResult:
    """Files and folders (recursive, symlinked folders not followed into loops, hidden files ignored)."""
    raise NotImplementedError
