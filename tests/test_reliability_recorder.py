"""The reliability recorder counts lost and duplicated results itself, and writes only when asked to."""

from __future__ import annotations

import pytest

from shared.messages import Result
from tests.reliability import Outcome, Recorder, read_rows

FAULT = "worker SIGKILLed mid-batch"


def result(rid: str, name: str, error: str | None = None) -> Result:
    return Result(request_id=rid, job_id="j", name=name, label=None if error else "monarch", error=error)


def test_an_image_with_no_result_is_lost_and_a_second_result_is_a_duplicate(tmp_path):
    recorder = Recorder("tests/x.py::test_y", None)
    row = recorder.record(FAULT, images=3, results=[result("r1", "a.jpg"), result("r1", "a.jpg"),
                                                    result("r2", "b.jpg", error="not an image")],
                          expected=["a.jpg", "b.jpg", "c.jpg"], seconds=1.5)
    assert (row.lost, row.duplicated, row.results, row.ok, row.errors) == (1, 1, 3, 2, 1)


def test_without_expected_names_the_counts_are_compared():
    row = Recorder("t", None).record(FAULT, images=3, results=[result("r1", "a.jpg"), result("r2", "a.jpg")])
    assert (row.lost, row.duplicated) == (1, 1)  # two request ids, one name twice: a duplicate all the same


def test_dead_lettered_and_refused_requests_are_accounted_for_not_lost():
    row = Recorder("t", None).record(FAULT, images=3, results=[Outcome("a")], expected=["a", "b", "c"],
                                     dead_lettered=["b"], refused=1)
    assert (row.lost, row.dead_lettered, row.refused) == (0, 1, 1)


def test_a_row_is_a_json_line_appended_only_when_a_file_is_named(tmp_path):
    out = tmp_path / "rows.jsonl"
    Recorder("t", None).record(FAULT, images=1, results=[Outcome("a")])
    assert not out.exists()
    for _ in range(2):
        Recorder("tests/x.py::test_y", out).record(FAULT, images=1, results=[Outcome("a")], seconds=2)
    rows = read_rows(out)
    assert [(r.fault, r.test, r.lost, r.duplicated, r.seconds) for r in rows] == [
        (FAULT, "tests/x.py::test_y", 0, 0, 2.0)] * 2


def test_an_unknown_fault_is_refused_so_a_typo_does_not_make_a_row_of_its_own():
    with pytest.raises(ValueError, match="unknown fault"):
        Recorder("t", None).record("worker SIGKILED mid-batch", images=1, results=[])


def test_the_fixture_records_under_the_tests_node_id(reliability, request):
    assert reliability.test == request.node.nodeid
