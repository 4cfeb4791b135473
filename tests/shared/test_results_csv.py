"""The CSV contract of classify / predict / results: columns, order, top-5, errors and the exit code."""

from __future__ import annotations

import io

from shared.job_manifest import IN_PROGRESS, NOT_SENT
from shared.messages import Result
from shared.results_csv import (
    COLUMNS,
    EXIT_FAILED,
    EXIT_OK,
    Tally,
    exit_code,
    print_table,
    read_csv,
    summary_line,
    tally,
    to_rows,
    write_csv,
)
from shared.scan import Skipped


def ok(name: str, label: str = "tabby", rid: str | None = None) -> Result:
    return Result(
        request_id=rid or f"r-{name}", job_id="j1", name=name, label=label, score=0.91234,
        top5=((label, 0.91234), ("tiger cat", 0.05), ("Egyptian cat", 0.02), ("lynx", 0.01), ("fox", 0.001)),
        model="efficientnet-lite0", worker_id="w1", timings={"submitted": 100.0, "finished": 101.5},
    )


def failed(name: str, error: str = "not an image: cannot identify image file") -> Result:
    return Result(request_id=f"r-{name}", job_id="j1", name=name, error=error, worker_id="w2")


def test_columns_come_first_and_rows_are_sorted_by_image(tmp_path):
    rows = to_rows([ok("b/z.jpg"), ok("a.jpg"), failed("b/bad.jpg")],
                   [Skipped("notes.txt", "skipped: not an image (text)", False)])
    path = tmp_path / "out.csv"
    write_csv(path, rows)
    header = path.read_text().splitlines()[0].split(",")
    assert tuple(header[:5]) == COLUMNS == ("image", "label", "score", "top5", "error")
    assert {"model", "worker", "latency_s", "request_id"} <= set(header)
    parsed = read_csv(path)
    assert [r["image"] for r in parsed] == ["a.jpg", "b/bad.jpg", "b/z.jpg", "notes.txt"]


def test_success_row_has_label_score_top5_and_empty_error():
    buffer = io.StringIO()
    write_csv(buffer, to_rows([ok("cat.jpg")]))
    buffer.seek(0)
    (row,) = read_csv(buffer)
    assert row["label"] == "tabby"
    assert float(row["score"]) == 0.9123
    assert row["top5"] == "tabby|tiger cat|Egyptian cat|lynx|fox"
    assert row["error"] == ""
    assert row["worker"] == "w1" and row["model"] == "efficientnet-lite0"
    assert float(row["latency_s"]) == 1.5


def test_error_and_skipped_rows_carry_the_reason_and_no_label():
    buffer = io.StringIO()
    write_csv(buffer, to_rows([failed("bad.jpg")], [Skipped("x.txt", "skipped: not an image (text)", False)]))
    buffer.seek(0)
    rows = {r["image"]: r for r in read_csv(buffer)}
    assert rows["bad.jpg"]["error"] == "not an image: cannot identify image file"
    assert rows["bad.jpg"]["label"] == rows["bad.jpg"]["score"] == rows["bad.jpg"]["top5"] == ""
    assert rows["x.txt"]["error"] == "skipped: not an image (text)"


def test_names_with_commas_and_quotes_survive_a_round_trip(tmp_path):
    name = 'holiday, "best" of/ünïcode.jpg'
    write_csv(tmp_path / "r.csv", to_rows([ok(name)]))
    assert read_csv(tmp_path / "r.csv")[0]["image"] == name


def test_skipped_non_images_alone_do_not_fail_the_run():
    rows = to_rows([ok("a.jpg")], [Skipped("readme.txt", "skipped: not an image (text)", False)])
    assert tally(rows) == Tally(ok=1, skipped=1)
    assert exit_code(rows) == EXIT_OK


def test_an_image_that_failed_fails_the_run():
    assert exit_code(to_rows([ok("a.jpg"), failed("b.jpg")])) == EXIT_FAILED


def test_a_skipped_file_that_looks_like_an_image_fails_the_run():
    rows = to_rows([ok("a.jpg")], [Skipped("notes.jpg", "skipped: not an image (text)", True)])
    assert tally(rows) == Tally(ok=1, failed=1)
    assert exit_code(rows) == EXIT_FAILED


def test_summary_line_counts_each_kind():
    rows = to_rows([ok("a.jpg"), ok("b.jpg"), failed("c.jpg")],
                   [Skipped("t.txt", "skipped: not an image (text)", False)])
    line = summary_line(rows, seconds=2.0)
    assert line.startswith("2 classified, 1 failed, 1 skipped (not images) in 2.0 s")


def test_requests_in_progress_do_not_fail_the_run_but_requests_never_sent_do():
    def unanswered(name: str, error: str) -> Result:
        return Result(request_id=f"r-{name}", job_id="j1", name=name, error=error)

    in_progress = to_rows([ok("a.jpg"), unanswered("b.jpg", IN_PROGRESS)])
    assert tally(in_progress) == Tally(ok=1, in_progress=1)
    assert exit_code(in_progress) == EXIT_OK
    assert summary_line(in_progress) == "1 classified, 0 failed, 1 in progress"
    not_sent = to_rows([ok("a.jpg"), unanswered("b.jpg", NOT_SENT)])
    assert exit_code(not_sent) == EXIT_FAILED
    assert summary_line(not_sent) == "1 classified, 0 failed, 1 not sent"


def test_table_shows_every_row_with_label_or_error():
    out = io.StringIO()
    print_table(to_rows([ok("a.jpg"), failed("b.jpg")], [Skipped("t.txt", "skipped: not an image (text)", False)]),
                out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["image", "label", "score"]
    assert "tabby" in lines[1] and "0.912" in lines[1]
    assert "not an image" in lines[2] and lines[3].startswith("t.txt")
