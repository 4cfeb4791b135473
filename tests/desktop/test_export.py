"""Export writes the `imgrec classify` CSV columns (via shared.results_csv) and a JSON document."""

from __future__ import annotations

import json

from desktop.export import write_csv, write_json
from desktop.rows import DONE, FAILED, SKIPPED, TableRow
from shared import results_csv

ROWS = [
    TableRow(name="b.jpg", label="bridge", score=0.5, top5=(("bridge", 0.5), ("pier", 0.2)), request_id="r2",
             worker="w1", model="efficientnet-lite0", latency_s=1.25, status=DONE),
    TableRow(name="a.jpg", error="not a valid image", request_id="r1", status=FAILED),
    TableRow(name="notes.txt", error="skipped: not an image (text file)", status=SKIPPED),
]


def test_csv_has_the_classify_columns_sorted_by_image(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(path, ROWS)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:5] == ["image", "label", "score", "top5", "error"]
    rows = results_csv.read_csv(path)
    assert [r["image"] for r in rows] == ["a.jpg", "b.jpg", "notes.txt"]
    assert rows[1]["top5"] == "bridge|pier" and rows[1]["score"] == "0.5000" and rows[1]["error"] == ""
    assert rows[0]["error"] == "not a valid image" and rows[0]["label"] == ""


def test_json_keeps_scores_of_the_top5(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, ROWS)
    data = json.loads(path.read_text())
    assert data["columns"][:5] == ["image", "label", "score", "top5", "error"]
    bridge = next(r for r in data["results"] if r["image"] == "b.jpg")
    assert bridge["top5"] == [{"label": "bridge", "score": 0.5}, {"label": "pier", "score": 0.2}]
    assert next(r for r in data["results"] if r["image"] == "notes.txt")["status"] == "skipped"
