"""The gallery beside the results table: groups by label with counts (largest first), a click on a
label shows only it, a threshold sets the uncertain group apart, thumbnails come from a background
decode, and 10,000 results cost only what is on screen."""

from __future__ import annotations

from PySide6.QtCore import Qt

from cloud.local.server import free_port
from desktop.gallery import ALL, FAILED, UNCERTAIN, Groups
from desktop.models.gallery_model import COUNT_ROLE, KEY_ROLE
from desktop.rows import DONE, TableRow
from desktop.rows import FAILED as FAILED_ROW
from desktop.settings import AWS, EXTERNAL, DesktopSettings


def _offline() -> DesktopSettings:
    return DesktopSettings(target=AWS, endpoint_url=f"http://127.0.0.1:{free_port()}", scaler=EXTERNAL)


def _row(name, label="", score=None, path=None, error="") -> TableRow:
    return TableRow(name=name, path=path, label=label, score=score, error=error, job_id="j",
                    status=FAILED_ROW if error else DONE)


def test_groups_count_largest_first_and_the_threshold_moves_rows_to_uncertain():
    groups = Groups(min_score=0.3)
    groups.add([_row("b/img_10.jpg", "tabby", 0.9), _row("b/img_2.jpg", "tabby", 0.8), _row("c.jpg", "beagle", 0.5),
                _row("d.jpg", "beagle", 0.2), _row("e.jpg", "tabby", 0.31), _row("f.jpg", error="not an image"),
                _row("g.jpg", "_uncertain", 0.9)])  # a label that spells our own group stays a label
    assert groups.counts() == [("tabby", 3), ("_uncertain ", 1), ("beagle", 1), (UNCERTAIN, 1), (FAILED, 1)]
    assert [groups.rows[i].name for i in groups.members("tabby")] == ["b/img_2.jpg", "b/img_10.jpg", "e.jpg"]
    assert [groups.rows[i].name for i in groups.members(ALL)][:3] == ["b/img_2.jpg", "b/img_10.jpg", "e.jpg"]
    groups.set_min_score(0.6)
    assert groups.counts() == [("tabby", 2), ("_uncertain ", 1), (UNCERTAIN, 3), (FAILED, 1)]


def test_a_click_on_a_label_shows_only_it_and_the_slider_sets_uncertain_apart(qtbot, make_window, make_images,
                                                                             tmp_path):
    paths = make_images(tmp_path, [f"p{i}.jpg" for i in range(7)])
    view, controller = make_window(_offline())
    labels = [("tabby", 0.9), ("tabby", 0.7), ("tabby", 0.2), ("beagle", 0.8), ("beagle", 0.5), ("", None),
              ("tabby", 0.4)]
    controller.results.append([_row(p.name, label, score, str(p), "" if label else "truncated")
                               for p, (label, score) in zip(paths, labels, strict=True)])
    gallery, groups_view = controller.gallery, view.results.gallery
    qtbot.waitUntil(lambda: gallery.groups.rowCount() == 5, timeout=5_000)
    shown = [groups_view.groups.model().index(r).data() for r in range(gallery.groups.rowCount())]
    assert shown == ["All  (7)", "Uncertain (under 30 %)  (1)", "Failed  (1)", "tabby  (3)", "beagle  (2)"]

    # Click "beagle": the grid holds its two images only.
    row = gallery.groups.row_of("beagle")
    rect = groups_view.groups.visualRect(gallery.groups.index(row))
    qtbot.mouseClick(groups_view.groups.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert gallery.model.rowCount() == 2
    assert {gallery.model.row_at(i).name for i in range(2)} == {"p3.jpg", "p4.jpg"}
    assert groups_view.caption.text() == "beagle: 2 image(s)"

    # Thumbnails are decoded off the GUI thread and reach the grid (a faint square meanwhile).
    first = gallery.model.index(0)
    qtbot.waitUntil(lambda: first.data(Qt.ItemDataRole.DecorationRole).width() == 32, timeout=10_000)  # 32x24

    # The threshold at 60 %: p4 (50 %) leaves beagle for Uncertain.
    groups_view.threshold.setValue(60)
    assert gallery.model.rowCount() == 1
    qtbot.waitUntil(lambda: gallery.groups.index(gallery.groups.row_of(UNCERTAIN)).data(KEY_ROLE) == UNCERTAIN
                    and "under 60 %" in gallery.groups.index(gallery.groups.row_of(UNCERTAIN)).data(), timeout=5_000)
    counts = dict(controller.gallery.model.groups.counts())
    assert counts == {"tabby": 2, "beagle": 1, UNCERTAIN: 3, FAILED: 1}


def test_ten_thousand_results_stream_in_and_only_what_is_on_screen_is_decoded(qtbot, make_window, make_images,
                                                                             tmp_path):
    images = make_images(tmp_path, [f"s{i}.jpg" for i in range(40)])
    view, controller = make_window(_offline())
    gallery = controller.gallery
    for batch in range(50):  # as a job delivers them: a batch per flush
        controller.results.append([
            _row(f"shoot/img_{n}.jpg", f"label {n % 37}", 0.5 + (n % 50) / 100, str(images[n % len(images)]) + f"#{n}")
            for n in range(batch * 200, batch * 200 + 200)])
    assert gallery.model.rowCount() == 10_000
    qtbot.waitUntil(lambda: gallery.groups.rowCount() == 38, timeout=5_000)  # All + 37 labels
    assert sum(gallery.groups.index(r).data(COUNT_ROLE) for r in range(1, 38)) == 10_000

    grid, model = view.results.gallery.grid, gallery.model

    def on_screen_(row: int) -> bool:
        return grid.visualRect(model.index(row)).intersects(grid.viewport().rect())

    qtbot.waitUntil(lambda: on_screen_(0), timeout=10_000)
    qtbot.waitUntil(lambda: gallery.thumbnails._requests > 0, timeout=10_000)
    requested = gallery.thumbnails._requests
    on_screen = (grid.viewport().width() // grid.gridSize().width() + 1) * \
        (grid.viewport().height() // grid.gridSize().height() + 2)
    assert 0 < requested <= on_screen, (requested, on_screen)

    # Scrolled to the end (the grid lays items out in batches: the end moves until it is done), the
    # grid asks for the last items, not the thousands in between.
    def at_the_end() -> bool:
        grid.scrollToBottom()
        return on_screen_(9_999)

    qtbot.waitUntil(at_the_end, timeout=10_000)
    qtbot.waitUntil(lambda: gallery.thumbnails._requests > requested, timeout=10_000)
    assert gallery.thumbnails._requests - requested <= on_screen
