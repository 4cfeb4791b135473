"""PySide6 6.12.0 returns True from every emit, and None from QModelIndex.data without a value, without
a reference of their own: thousands of either (a gallery of thumbnails) abort the interpreter. The app's
fix (desktop.pyside_fixes, applied when desktop.tasks is imported) keeps the counts."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QStringListModel, Qt, Signal

import desktop.tasks  # noqa: F401 - what every part of the app imports

CALLS = 10_000


class _Emitter(QObject):
    said = Signal(str)


def test_emitting_and_asking_for_absent_data_keep_true_and_none_alive():
    emitter = _Emitter()
    model = QStringListModel(["a"])
    index = model.index(0, 0)
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(CALLS):
        emitter.said.emit("x")
        model.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        assert index.data(Qt.ItemDataRole.DecorationRole) is None
    assert abs(sys.getrefcount(True) - true_before) < 50
    assert abs(sys.getrefcount(None) - none_before) < 50
