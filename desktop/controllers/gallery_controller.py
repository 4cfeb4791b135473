"""The gallery: click a group to show only it, move the threshold, double-click a thumbnail to open it.

Counts are redrawn at most every ``COUNTS_EVERY_MS`` while results stream in; when the last job ends,
"All" is put back in group order (arrivals were appended at its end, so nothing jumps meanwhile).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, QTimer, Slot

from desktop.gallery import ALL
from desktop.models.gallery_model import KEY_ROLE, GalleryModel, GroupsModel
from desktop.models.results_model import ResultsModel
from desktop.thumbnails import ThumbnailCache
from desktop.views.gallery_view import GALLERY_THUMBNAIL, GalleryView

COUNTS_EVERY_MS = 300
GALLERY_CACHE_ENTRIES = 1000  # about 37 MB of 96x96 ARGB images
DEFAULT_THRESHOLD = 0.3


class GalleryController(QObject):
    def __init__(self, view: GalleryView, results: ResultsModel, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.thumbnails = ThumbnailCache(self, size=GALLERY_THUMBNAIL, entries=GALLERY_CACHE_ENTRIES)
        self.model = GalleryModel(results, self.thumbnails, self, min_score=DEFAULT_THRESHOLD)
        self.groups = GroupsModel(self)
        view.set_models(self.groups, self.model)
        view.set_threshold(DEFAULT_THRESHOLD)

        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(COUNTS_EVERY_MS)
        self._counts_timer.timeout.connect(self.show_counts)
        self.model.counts_changed.connect(self._counts_changed)
        self.model.shown_changed.connect(self._show_caption)
        self.model.modelReset.connect(self._show_caption)
        self.model.rowsInserted.connect(self._show_caption)
        view.groups.clicked.connect(self._group_clicked)
        view.groups.activated.connect(self._group_clicked)
        view.threshold.valueChanged.connect(self._threshold_moved)
        view.threshold.sliderReleased.connect(self._regroup_at_threshold)
        self.show_counts()

    @property
    def threshold(self) -> float:
        return self.model.groups.min_score

    def select_group(self, key: str) -> None:
        """Shows only group ``key`` (ALL: every result)."""
        self.model.set_group(key)
        self._select_in_list(key)

    def regroup(self) -> None:
        self.model.regroup()

    @Slot(QModelIndex)
    def _group_clicked(self, index: QModelIndex) -> None:
        key = index.data(KEY_ROLE)
        if key is not None:
            self.model.set_group(key)

    @Slot(int)
    def _threshold_moved(self, _value: int) -> None:
        """The caption follows the slider; the rows are regrouped (every row, re-sorted) once it stops:
        at once for a key press or a click, on release while it is dragged."""
        self.view.show_threshold()
        if not self.view.threshold.isSliderDown():
            self._regroup_at_threshold()

    @Slot()
    def _regroup_at_threshold(self) -> None:
        self.model.set_min_score(self.view.threshold_value())

    @Slot()
    def _counts_changed(self) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    @Slot()
    def show_counts(self) -> None:
        self._counts_timer.stop()
        self.groups.set_counts(self.model.groups.counts(), self.threshold)
        key = self.model.key
        if key != ALL and self.groups.row_of(key) < 0:
            self.model.set_group(ALL)  # the group is gone (cleared, or all of it now uncertain)
            key = ALL
        self._select_in_list(key)
        self._show_caption()

    def _select_in_list(self, key: str) -> None:
        row = self.groups.row_of(key)
        selection = self.view.groups.selectionModel()
        if row < 0 or selection is None:
            return
        index = self.groups.index(row)
        if selection.currentIndex() != index or not selection.isSelected(index):
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    @Slot()
    def _show_caption(self) -> None:
        shown = self.model.rowCount()
        key = self.model.key
        title = self.groups.title(key)
        self.view.set_caption(f"{shown:,} image(s)" if key == ALL else f"{title}: {shown:,} image(s)")

    def shutdown(self, wait_ms: int = 5000) -> None:
        self._counts_timer.stop()
        self.thumbnails.runner.cancel_all()
        self.thumbnails.runner.wait(wait_ms)
