"""The gallery's two models, over the results table's rows:

* GalleryModel: the thumbnails of one group (or all of them), a flat list model for a QListView in
  icon mode. It follows the results model: rows that arrive are appended when they belong to the
  group on show, so a job streaming thousands of results costs one insertion per batch; changing the
  group, the threshold or :meth:`regroup` rebuilds the order (grouped, natural file order).
* GroupsModel: the groups with their counts, largest first: "All", each label, "Uncertain", "Failed".

Thumbnails come from a ThumbnailCache of the gallery's own size, decoded off the GUI thread, for the
items the view paints; the grid never makes an item widget, so 10,000 results cost what is on screen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage

from desktop.gallery import ALL, FAILED, UNCERTAIN, Groups, label_of_group
from desktop.models.results_model import PATH_ROLE, ROW_ROLE, ResultsModel, top5_tooltip
from desktop.thumbnails import ThumbnailCache

Index = QModelIndex | QPersistentModelIndex
GALLERY_THUMBNAIL = 96  # pixels, the longer side
ITEM_SIZE = QSize(GALLERY_THUMBNAIL + 16, GALLERY_THUMBNAIL + 24)  # the picture and one line of its name
PLACEHOLDER_COLOUR = QColor(128, 128, 128, 40)
KEY_ROLE = Qt.ItemDataRole.UserRole + 10  # GroupsModel: the group's key
COUNT_ROLE = Qt.ItemDataRole.UserRole + 11


def short_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


_placeholder: list[QImage] = []


def placeholder() -> QImage:
    """A faint square where a thumbnail is not decoded yet (or cannot be): the grid does not jump."""
    if not _placeholder:
        image = QImage(GALLERY_THUMBNAIL, GALLERY_THUMBNAIL, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(PLACEHOLDER_COLOUR)
        _placeholder.append(image)
    return _placeholder[0]


class GalleryModel(QAbstractListModel):
    counts_changed = Signal()  # groups gained rows or were recounted
    shown_changed = Signal()  # the group on show, or the threshold, changed

    def __init__(self, results: ResultsModel, thumbnails: ThumbnailCache | None = None,
                 parent: QObject | None = None, min_score: float = 0.0):
        super().__init__(parent)
        self.results = results
        self.thumbnails = thumbnails
        self.groups = Groups(min_score)
        self.key = ALL
        self._order: list[int] = []  # indices into groups.rows, as shown
        self._position: dict[int, int] = {}  # index -> its place in _order
        self._by_path: dict[str, list[int]] = {}  # path -> indices
        results.rowsInserted.connect(self._inserted)
        results.modelReset.connect(self._reset)
        results.dataChanged.connect(self._changed)
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)
        self._reset()

    # --- what is shown ----------------------------------------------------------------------------
    def set_group(self, key: str) -> None:
        if key != self.key:
            self.key = key
            self._rebuild()
            self.shown_changed.emit()

    def set_min_score(self, min_score: float) -> None:
        if min_score != self.groups.min_score:
            self.groups.set_min_score(min_score)
            self._rebuild()
            self.counts_changed.emit()
            self.shown_changed.emit()

    def regroup(self) -> None:
        """Orders what is shown by group again (arrivals were appended at the end)."""
        self._rebuild()

    def row_at(self, position: int):
        return self.groups.rows[self._order[position]]

    def shown_rows(self) -> list:
        return [self.groups.rows[i] for i in self._order]

    def _rebuild(self) -> None:
        self.beginResetModel()
        self._order = self.groups.members(self.key)
        self._position = {index: position for position, index in enumerate(self._order)}
        self.endResetModel()

    # --- following the results model ---------------------------------------------------------------
    @Slot()
    def _reset(self) -> None:
        self.groups.reset(self.results.rows())
        self._by_path = {}
        for index, row in enumerate(self.groups.rows):
            if row.path:
                self._by_path.setdefault(row.path, []).append(index)
        self._rebuild()
        self.counts_changed.emit()

    @Slot(QModelIndex, int, int)
    def _inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if first != len(self.groups):  # not an append: start over from the source
            self._reset()
            return
        added = self.groups.add(self.results.row_at(r) for r in range(first, last + 1))
        shown = []
        for index in added:
            row = self.groups.rows[index]
            if row.path:
                self._by_path.setdefault(row.path, []).append(index)
            if self.groups.matches(index, self.key):
                shown.append(index)
        if shown:
            start = len(self._order)
            self.beginInsertRows(QModelIndex(), start, start + len(shown) - 1)
            for offset, index in enumerate(shown):
                self._order.append(index)
                self._position[index] = start + offset
            self.endInsertRows()
        self.counts_changed.emit()

    @Slot(QModelIndex, QModelIndex, list)
    def _changed(self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list | None = None) -> None:
        if roles and Qt.ItemDataRole.DisplayRole not in roles:
            return  # a thumbnail of the table's own
        for r in range(top_left.row(), bottom_right.row() + 1):
            if r >= len(self.groups):
                continue
            old, row = self.groups.rows[r], self.results.row_at(r)
            if row is old:
                continue
            if old.path != row.path:
                if old.path in self._by_path:
                    self._by_path[old.path] = [i for i in self._by_path[old.path] if i != r]
                if row.path:
                    self._by_path.setdefault(row.path, []).append(r)
            self.groups.replace(r, row)
            if r in self._position:
                index = self.index(self._position[r])
                self.dataChanged.emit(index, index)

    @Slot(str)
    def _thumbnail_ready(self, path: str) -> None:
        for index in self._by_path.get(path, ()):
            position = self._position.get(index)
            if position is not None:
                model_index = self.index(position)
                self.dataChanged.emit(model_index, model_index, [Qt.ItemDataRole.DecorationRole])

    # --- Qt model --------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._order)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._order):
            return None
        row = self.groups.rows[self._order[index.row()]]
        if role == Qt.ItemDataRole.DisplayRole:
            return short_name(row.name)
        if role == Qt.ItemDataRole.DecorationRole:
            image = self.thumbnails.get(row.path) if self.thumbnails is not None else None
            return image if image is not None else placeholder()
        if role == Qt.ItemDataRole.SizeHintRole:
            return ITEM_SIZE  # every item alike, whether its thumbnail is there yet or not
        if role == Qt.ItemDataRole.ToolTipRole:
            score = "" if row.score is None else f" ({row.score * 100:.1f} %)"
            return f"{row.name}\n{row.label or 'failed'}{score}\n\n{top5_tooltip(row)}"
        if role == PATH_ROLE:
            return row.path
        if role == ROW_ROLE:
            return row
        return None


class GroupsModel(QAbstractListModel):
    """"All (n)", Uncertain and Failed, then each label with its count, largest first; ``KEY_ROLE`` gives
    the group's key."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._entries: list[tuple[str, int]] = []
        self._min_score = 0.0

    def set_counts(self, counts: list[tuple[str, int]], min_score: float) -> None:
        """``counts`` as Groups.counts() gives them; Uncertain and Failed are listed first, under All,
        where a user looking for them finds them however many labels there are."""
        special = [(key, n) for key, n in counts if key in (UNCERTAIN, FAILED)]
        labels = [(key, n) for key, n in counts if key not in (UNCERTAIN, FAILED)]
        entries = [(ALL, sum(n for _, n in counts)), *special, *labels]
        if entries == self._entries and min_score == self._min_score:
            return
        self._min_score = min_score
        if [key for key, _ in entries] == [key for key, _ in self._entries]:
            self._entries = entries  # the same groups in the same order: only the numbers change
            self.dataChanged.emit(self.index(0), self.index(len(entries) - 1))
            return
        self.beginResetModel()
        self._entries = entries
        self.endResetModel()

    def keys(self) -> list[str]:
        return [key for key, _ in self._entries]

    def row_of(self, key: str) -> int:
        for row, (k, _) in enumerate(self._entries):
            if k == key:
                return row
        return -1

    def title(self, key: str) -> str:
        if key == ALL:
            return "All"
        if key == UNCERTAIN:
            return f"Uncertain (under {self._min_score * 100:.0f} %)"
        if key == FAILED:
            return "Failed"
        return label_of_group(key)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        key, count = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{self.title(key)}  ({count:,})"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{count:,} image(s): {self.title(key)}"
        if role == KEY_ROLE:
            return key
        if role == COUNT_ROLE:
            return count
        return None
