"""Thumbnails made off the GUI thread and cached.

The table and the gallery ask for a thumbnail only for the items they paint; a miss starts a
background decode (QImageReader scales while decoding, so a large photo never loads at full size)
and returns nothing for now; ``ready`` tells the model when the picture is there. The newest request
is decoded first, so after a fast scroll the items on screen come before those scrolled past.
QImage, unlike QPixmap, may be made on any thread, and item views paint it as a decoration directly.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from desktop.tasks import Task, TaskRunner

THUMBNAIL_SIZE = 48
CACHE_ENTRIES = 2000  # about 9 MB of 48x48 ARGB images
DECODE_THREADS = 2


def make_thumbnail(task: Task, path: str, size: int = THUMBNAIL_SIZE) -> tuple[str, QImage | None]:
    """A Task body: the image at ``path`` scaled to fit ``size`` x ``size``, or None when unreadable."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid() and (original.width() > size or original.height() > size):
        reader.setScaledSize(original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return path, None
    if image.width() > size or image.height() > size:
        image = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return path, image


class ThumbnailCache(QObject):
    ready = Signal(str)  # a path whose thumbnail (or its absence) is now known

    def __init__(self, parent: QObject | None = None, size: int = THUMBNAIL_SIZE, entries: int = CACHE_ENTRIES):
        super().__init__(parent)
        self.size = size
        self.entries = entries
        self.runner = TaskRunner(max_threads=DECODE_THREADS, parent=self)
        self._images: OrderedDict[str, QImage | None] = OrderedDict()
        self._pending: set[str] = set()
        self._requests = 0  # the priority of the next decode: newer requests first

    def get(self, path: str | None) -> QImage | None:
        """The cached thumbnail, or None (and a decode starts in the background)."""
        if not path:
            return None
        if path in self._images:
            self._images.move_to_end(path)
            return self._images[path]
        if path not in self._pending:
            self._pending.add(path)
            task = Task(make_thumbnail, path, self.size, name="thumbnail")
            task.signals.result.connect(self._store)
            self._requests += 1
            self.runner.start(task, priority=self._requests)
        return None

    @Slot(object)
    def _store(self, value: tuple[str, QImage | None]) -> None:
        path, image = value
        self._pending.discard(path)
        self._images[path] = image
        while len(self._images) > self.entries:
            self._images.popitem(last=False)
        self.ready.emit(path)

    def clear(self) -> None:
        self._images.clear()
