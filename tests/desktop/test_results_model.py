"""The results table model and its filter/sort proxy: batches, duplicates, numeric sort, filters, tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.models.results_filter import ResultsFilterProxy
from desktop.models.results_model import CONFIDENCE, FILE, LABEL, LATENCY, ROW_ROLE, ResultsModel
from desktop.rows import DONE, FAILED, TableRow


def _row(name, label="cat", score=0.5, rid=None, status=DONE, error="", latency=1.0):
    return TableRow(name=name, label=label if status == DONE else "", score=score if status == DONE else None,
                    top5=((label, score), ("dog", 0.1)) if status == DONE else (), error=error,
                    request_id=rid or name, latency_s=latency, status=status, worker="w1")


def test_a_batch_is_one_insertion_and_a_result_is_shown_once(qtbot):
    model = ResultsModel()
    inserts = []
    model.rowsInserted.connect(lambda _parent, first, last: inserts.append((first, last)))
    assert model.append([_row(f"{i}.jpg") for i in range(100)]) == 100
    assert inserts == [(0, 99)]
    # A result seen twice (same job, same file) does not make a second row.
    assert model.append([_row("5.jpg"), _row("new.jpg")]) == 1
    assert model.rowCount() == 101


def test_sorts_confidence_as_a_number_and_filters_by_text_and_status(qtbot):
    model = ResultsModel()
    model.append([
        _row("a.jpg", "tabby cat", 0.9),
        _row("b.jpg", "bridge", 0.25),
        _row("c.jpg", "golden retriever", 0.1),
        _row("bad.jpg", status=FAILED, error="not an image (text file)"),
    ])
    proxy = ResultsFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(CONFIDENCE, Qt.SortOrder.DescendingOrder)
    names = [proxy.index(r, FILE).data() for r in range(proxy.rowCount())]
    assert names == ["a.jpg", "b.jpg", "c.jpg", "bad.jpg"]  # 0.9 > 0.25 > 0.1 (not "90.0 %" < "25.0 %")

    proxy.set_text("CAT")
    assert [proxy.index(r, LABEL).data() for r in range(proxy.rowCount())] == ["tabby cat"]
    proxy.set_text("")
    proxy.set_status(FAILED)
    assert proxy.rowCount() == 1
    row = proxy.index(0, FILE).data(ROW_ROLE)
    assert row.error == "not an image (text file)"
    assert proxy.index(0, LABEL).data() == "failed"


def test_tooltip_shows_the_top5_and_latency_is_shown(qtbot):
    model = ResultsModel()
    model.append([_row("a.jpg", "tabby cat", 0.875, latency=0.4321)])
    tooltip = model.index(0, LABEL).data(Qt.ItemDataRole.ToolTipRole)
    assert "tabby cat  87.5 %" in tooltip and "dog  10.0 %" in tooltip
    assert model.index(0, CONFIDENCE).data() == "87.5 %"
    assert model.index(0, LATENCY).data() == "0.43 s"
