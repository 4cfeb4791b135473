"""Export of the results table: CSV with the `imgrec classify` columns, or JSON. Runs off the GUI thread."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from desktop.rows import TableRow
from shared import results_csv


def write_csv(path: str | Path, rows: Sequence[TableRow]) -> int:
    """The `classify` contract: image,label,score,top5,error first, sorted by image. Returns the row count."""
    results_csv.write_csv(path, [row.to_csv_row() for row in rows])
    return len(rows)


def write_json(path: str | Path, rows: Sequence[TableRow]) -> int:
    ordered = sorted(rows, key=lambda r: (results_csv.natural_key(r.name), r.request_id))
    data = {"columns": list(results_csv.COLUMNS), "results": [row.to_json() for row in ordered]}
    tmp = Path(str(path) + ".part")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(rows)


def export(task, path: str, rows: Sequence[TableRow]) -> tuple[str, int]:
    """A Task body: picks the format from the file name (.json, otherwise CSV)."""
    writer = write_json if path.lower().endswith(".json") else write_csv
    return path, writer(path, rows)
