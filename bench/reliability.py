"""Runs the tests that record reliability rows, then writes docs/RELIABILITY.md from what they saw.

    .venv/bin/python bench/reliability.py            # the recording tests (a few minutes), then the doc
    .venv/bin/python bench/reliability.py --soak     # the 2,000-image soak first (bench/soak.py, minutes)
    .venv/bin/python bench/reliability.py --render   # only the doc, from the rows the last runs left

The tests run are those that take the ``reliability`` fixture (tests/conftest.py), found at collection:
a new recording test is picked up without a list to keep. Each ``reliability.record(...)`` call is one
JSON line (tests/reliability.py); the doc has one row per fault, summing a fault's lines (a parametrized
test, or a test that runs several jobs, records several). Rows are kept under out/reliability/:
tests.jsonl (replaced by each run of the tests) and soak.jsonl (replaced by --soak).

Exit status 1 when a recording test failed or a row lost or duplicated anything.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability import FAULTS, OUT_ENV, Row, read_rows  # noqa: E402

OUT = ROOT / "out" / "reliability"
TEST_ROWS = OUT / "tests.jsonl"
SOAK_ROWS = OUT / "soak.jsonl"
DOC = ROOT / "docs" / "RELIABILITY.md"

# Faults with no row yet, and why: said in the doc instead of a blank.
PENDING = {
    "client killed during upload, resumed": "resume is being built; its test will record this row",
    "client killed during collection, resumed": "resume is being built; its test will record this row",
    "2,000-image soak with the autoscaler": "run `bench/reliability.py --soak`",
    "worker SIGKILLed mid-batch": "its test in tests/e2e/test_pipeline.py has no recording call yet",
    "two of three workers SIGKILLed at once": "its test in tests/e2e/test_pipeline.py has no recording call yet",
    "awkward-file corpus": "its test in tests/e2e/test_pipeline.py has no recording call yet",
}


class RecordingTests:
    """A pytest plugin: keeps only the tests that take the ``reliability`` fixture and notes how each ended."""

    def __init__(self):
        self.outcomes: dict[str, str] = {}  # node id -> passed | failed | skipped

    def pytest_collection_modifyitems(self, config, items):
        kept = [item for item in items if "reliability" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped:
            self.outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, "passed")


def run_tests(pytest_args: list[str]) -> dict[str, str]:
    """The recording tests, in this process, rows to TEST_ROWS; returns each test's outcome."""
    import pytest

    TEST_ROWS.unlink(missing_ok=True)
    os.environ[OUT_ENV] = str(TEST_ROWS)
    plugin = RecordingTests()
    try:
        pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), str(ROOT / "tests"), *pytest_args],
                    plugins=[plugin])
    finally:
        del os.environ[OUT_ENV]
    return plugin.outcomes


def run_soak() -> int:
    SOAK_ROWS.unlink(missing_ok=True)
    env = dict(os.environ, **{OUT_ENV: str(SOAK_ROWS)})
    return subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py")], cwd=ROOT, env=env).returncode


# --- the doc ---------------------------------------------------------------------------------------

@dataclass
class Line:
    """One fault's rows, summed."""

    fault: str
    rows: list[Row] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(row, name) for row in self.rows)

    @property
    def seconds(self) -> float:
        return sum(row.seconds for row in self.rows)

    def tests(self) -> str:
        """Each test once, a parametrized one with its number of cases."""
        cases: dict[str, set[str]] = defaultdict(set)
        for row in self.rows:
            cases[row.test.split("[", 1)[0]].add(row.test)
        return "<br>".join(f"`{test}`" + (f" ({len(ids)} cases)" if len(ids) > 1 else "")
                           for test, ids in cases.items())

    def results_out(self) -> str:
        parts = [(self.total("ok"), "labelled"), (self.total("errors"), "error rows"),
                 (self.total("dead_lettered"), "dead-lettered"), (self.total("refused"), "refused, the user told why")]
        said = [f"{n} {what}" for n, what in parts if n]
        return ", ".join(said) if said else "0"

    def notes(self) -> str:
        notes = list(dict.fromkeys(row.note for row in self.rows if row.note))
        if len(self.rows) > len({row.test for row in self.rows}):  # a test that ran several jobs
            notes.insert(0, f"{len(self.rows)} runs: " + ", ".join(f"{row.seconds:.1f} s" for row in self.rows))
        unexpected = self.total("unexpected")
        if unexpected:
            notes.append(f"{unexpected} results for images that did not go in")
        return "; ".join(notes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), {platform.machine()}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average {load} when the doc was written")


def render(rows: list[Row], outcomes: dict[str, str], soak: list[Row]) -> tuple[str, bool]:
    """The doc, and whether everything held (every recorded test passed, 0 lost and 0 duplicated)."""
    lines = {fault: Line(fault) for fault in FAULTS}
    for row in rows + soak:
        lines.setdefault(row.fault, Line(row.fault)).rows.append(row)
    failed = sorted(test for test, outcome in outcomes.items() if outcome == "failed")
    today = datetime.date.today().isoformat()
    days = ", ".join(sorted({row.day for row in rows + soak if row.day}))
    out = [
        "# Reliability",
        "",
        "What each fault or bad input does to a job: the images that went in, the results that came out, "
        "how many were lost (no result, no dead-letter entry, no refusal the user was told of) and how many "
        "came back more than once. Every row is filled from a real run of the test named beside it: real "
        "moto server on loopback, real worker processes, the real model. The tests assert 0 lost and 0 "
        "duplicated themselves; `reliability.record(...)` (tests/reliability.py) writes down what they saw.",
        "",
        f"Written by `bench/reliability.py` on {today} from rows recorded on {days or today}, on {machine()}.",
        "",
        "## The faults",
        "",
    ]
    out += [f"- **{fault}**: {how}." for fault, how in FAULTS.items()]
    extra = [fault for fault in lines if fault not in FAULTS]
    out += [f"- **{fault}**: (not described in tests/reliability.py)." for fault in extra]
    out += [
        "",
        "## What came back",
        "",
        "| fault / bad input | test | images in | results out | lost | duplicated | time (s) | notes |",
        "|---|---|--:|---|--:|--:|--:|---|",
    ]
    held = not failed
    for line in lines.values():
        if not line.rows:
            why = PENDING.get(line.fault, "no row recorded in this run")
            out.append(f"| {_cell(line.fault)} | — | — | — | — | — | — | not recorded: {_cell(why)} |")
            continue
        lost, duplicated = line.total("lost"), line.total("duplicated")
        held = held and lost == 0 and duplicated == 0 and line.total("unexpected") == 0
        tests = line.tests()
        if any(outcomes.get(row.test) == "failed" for row in line.rows):
            tests += " **(failed)**"
        out.append(f"| {_cell(line.fault)} | {tests} | {line.total('images')} | {_cell(line.results_out())} | "
                   f"{lost} | {duplicated} | {line.seconds:.1f} | {_cell(line.notes())} |")
    out += ["", "Time is the job's own (or the sum over a fault's runs): the cloud's start and stop are not in it."]
    if soak:
        out.append("The soak row is from `bench/soak.py`, run on the same machine.")
    if failed:
        out += ["", "**Failed in this run:** " + ", ".join(f"`{test}`" for test in failed)]
    out += ["", "Remake it with `.venv/bin/python bench/reliability.py` (add `--soak` for the soak row)."]
    return "\n".join(out) + "\n", held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only write the doc, from the rows already there")
    parser.add_argument("--soak", action="store_true", help="run bench/soak.py first (several minutes)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, str] = {}
    if not args.render:
        if args.soak and run_soak() != 0:
            outcomes["bench/soak.py"] = "failed"  # its row says what went wrong
        outcomes.update(run_tests(args.pytest_args))
    text, held = render(read_rows(TEST_ROWS), outcomes, read_rows(SOAK_ROWS))
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {DOC.relative_to(ROOT)}: " + ("every recorded test passed, 0 lost, 0 duplicated" if held
                                                 else "NOT everything held: see the table"), file=sys.stderr)
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
