"""Walks what the user submitted and decides, by content, which files are images.

CONTRACT (implemented by the job-client work): see the docstrings; names are stable.

Rules:
- Folders are walked recursively, in name order. Symlinked folders are followed, but a folder already
  visited (by device and inode) is not entered again, so a symlink loop ends. A file reached twice
  (a folder and a file inside it both given, a symlink beside its target) is listed once.
- Hidden files and folders (name starting with ".", and the OS droppings ``Thumbs.db``, ``desktop.ini``)
  are ignored silently while walking. A hidden file named explicitly on the command line is honoured.
- A file is an image when its first bytes say so (JPEG, PNG, GIF, BMP, WEBP, TIFF); the extension is
  not trusted. Anything else becomes a :class:`Skipped` row whose reason says why.
- ``name`` is the path relative to the folder given (posix separators), or the file name for a file
  argument. Names that collide across arguments are prefixed with their folder's name until unique.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

HEAD_BYTES = 512  # enough to recognise every format below

# Extensions that make a file "look like an image" by name: such a file failing fails the run.
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff",
    ".heic", ".heif", ".avif", ".jp2", ".ppm", ".pgm", ".pbm",
})
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "Icon\r"})
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF",
                b"avis": "AVIF"}


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
    looks_like_image: bool  # by name or content (or a named path that is missing): such a skip fails the run


@dataclass
class ScanResult:
    images: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.images) + len(self.skipped)


# --- content sniffing -------------------------------------------------------------------------------

def too_many_bytes(size: int, limit: int) -> str:
    """The one answer for a file over ``max_image_bytes``, whoever finds it: client, worker or predict."""
    return f"image too large: {size} bytes (limit {limit})"


def stamp(path: Path) -> tuple[int, int] | None:
    """How a file looks now, (size, mtime_ns), to tell later whether it changed; None when unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def image_format(head: bytes) -> tuple[str, str] | None:
    """(format, suffix) when the first bytes are a supported image, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG", ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", ".png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF", ".gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP", ".webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF", ".tif"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP", ".bmp"
    return None


def unsupported_image_format(head: bytes) -> str | None:
    """The name of an image format we recognise but do not classify (HEIC, AVIF ...)."""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[head[8:12]]
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return "JPEG 2000"
    return None


def describe_content(head: bytes) -> str:
    """A short word for what a non-image file is, for the skip reason."""
    if head.startswith(b"%PDF"):
        return "PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP archive"
    if head.startswith(b"\x1f\x8b"):
        return "gzip archive"
    if head.startswith(b"\x7fELF"):
        return "executable"
    if head[4:8] == b"ftyp":
        return "video"
    if b"\x00" not in head:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return "text"
        except UnicodeDecodeError:
            pass
    return "binary data"


def looks_like_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _error_text(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "no such file"
    return (exc.strerror or str(exc)).lower()


# --- walking ----------------------------------------------------------------------------------------

@dataclass
class _Found:
    """A file seen while walking, before names are made unique."""
    path: Path
    name: str
    group: Path  # the folder the name is relative to (the folder given, or a file argument's parent)
    arg: int  # which argument it came from
    entry: Item | Skipped


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def _examine(path: Path, name: str) -> Item | Skipped:
    """Opens one file and decides: an Item, or a Skipped with the reason."""
    by_name = looks_like_image_name(name)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return Skipped(name, "skipped: not a regular file", by_name)
        if st.st_size == 0:
            return Skipped(name, "skipped: empty file", by_name)
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        return Skipped(name, f"skipped: unreadable: {_error_text(exc)}", by_name)
    if not head:
        return Skipped(name, "skipped: empty file", by_name)
    fmt = image_format(head)
    if fmt is not None:
        return Item(path=path, name=name, size=st.st_size, suffix=fmt[1])
    unsupported = unsupported_image_format(head)
    if unsupported:
        return Skipped(name, f"skipped: unsupported image format ({unsupported})", True)
    return Skipped(name, f"skipped: not an image ({describe_content(head)})", by_name)


def _walk(root: Path, visited_dirs: set[tuple[int, int]]) -> Iterable[tuple[Path, str] | Skipped]:
    """Yields (path, name relative to root) for every non-hidden file under root, or a Skipped for a
    folder that cannot be read. Symlinked folders are entered once at most (by device and inode)."""
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            yield Skipped(rel or root.name, f"skipped: unreadable folder: {_error_text(exc)}", False)
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited_dirs:
            continue  # a symlink back into a folder already walked: a loop, or the same folder twice
        visited_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(rel or root.name, f"skipped: unreadable folder: {_error_text(exc)}", False)
            continue
        subfolders = []
        for entry in entries:
            if _is_hidden(entry.name):
                continue
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subfolders.append((Path(entry.path), child_rel))
            else:
                yield Path(entry.path), child_rel
        stack.extend(reversed(subfolders))  # depth first, in name order


def scan(paths: Iterable[str | Path]) -> ScanResult:
    """Files and folders (recursive, symlinked folders not followed into loops, hidden files ignored)."""
    found: list[_Found] = []
    seen_files: set[tuple[int, int]] = set()
    visited_dirs: set[tuple[int, int]] = set()

    def add(path: Path, name: str, group: Path, index: int) -> None:
        try:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
            if key in seen_files:
                return  # the same file reached twice: listed once
            seen_files.add(key)
        except OSError:
            pass  # _examine reports it
        found.append(_Found(path, name, group, index, _examine(path, name)))

    for index, raw in enumerate(paths):
        arg = Path(os.path.abspath(os.path.expanduser(str(raw))))
        if os.path.isdir(arg):
            for walked in _walk(arg, visited_dirs):
                if isinstance(walked, Skipped):
                    found.append(_Found(arg, walked.name, arg, index, walked))
                else:
                    add(walked[0], walked[1], arg, index)
        elif os.path.lexists(arg) and not os.path.exists(arg):
            found.append(_Found(arg, arg.name, arg.parent, index, Skipped(
                arg.name, "skipped: broken symbolic link", looks_like_image_name(arg.name))))
        elif os.path.exists(arg):
            add(arg, arg.name, arg.parent, index)
        else:
            shown = str(raw)
            # A path the user named that is not there is a mistake to report, not a file to skip: it fails the run.
            found.append(_Found(arg, shown, arg.parent, index, Skipped(shown, "no such file or folder", True)))

    _make_names_unique(found)
    result = ScanResult()
    for f in found:
        (result.images if isinstance(f.entry, Item) else result.skipped).append(f.entry)
    return result


def _prefixed(group: Path, name: str, depth: int) -> str:
    parts = [p for p in group.parts if p != "/"][-depth:] if depth else []
    return "/".join([*parts, name])


def _make_names_unique(found: list[_Found]) -> None:
    """When names collide across arguments, every name of a colliding argument gets its folder's name
    in front (then more of its path, if needed); as a last resort a counter. Arguments whose names are
    all unique keep them as they are."""
    groups = sorted({f.arg for f in found})
    depth = dict.fromkeys(groups, 0)
    max_depth = {f.arg: len([p for p in f.group.parts if p != "/"]) for f in found}
    for _round in range(64):
        owners: dict[str, set[int]] = {}
        for f in found:
            owners.setdefault(_prefixed(f.group, f.name, depth[f.arg]), set()).add(f.arg)
        clashing = {arg for args in owners.values() if len(args) > 1 for arg in args}
        grow = {arg for arg in clashing if depth[arg] < max_depth[arg]}
        if not grow:
            break
        for arg in grow:
            depth[arg] += 1
    taken: set[str] = set()
    for f in found:
        name = _prefixed(f.group, f.name, depth[f.arg])
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name} ({n})", n + 1
        taken.add(unique)
        if unique != f.name:
            f.entry = replace(f.entry, name=unique)
            f.name = unique
