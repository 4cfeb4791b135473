"""Soak: 2,000 images (20 copies of the 100-image workload) through an embedded cloud with the autoscaler
on, at most 2 workers, as one job: a bench, kept out of the tests (about 25 s on 2 cores here).

Prints images in, results out, lost, duplicated, error rows, seconds, images/s, the most workers seen
and how many copies of a photo got another label than its first copy (the same bytes: there should be
none). Then one JSON line. With IMGREC_RELIABILITY_OUT set, also appends the row docs/RELIABILITY.md
is made from (bench/reliability.py --soak sets it).

    .venv/bin/python bench/soak.py [--copies 20] [--max-workers 2]

Exit status 1 when an image was lost or duplicated or came back as an error, or copies disagreed. The
workers' exit codes are printed (and put in the row's note): 0 is a clean drain.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import WORKLOAD, workload_copies  # noqa: E402
from cloud.local.embedded import EmbeddedCloud  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.job import JobClient  # noqa: E402
from shared.scan import scan  # noqa: E402
from tests.reliability import OUT_ENV, Recorder  # noqa: E402

FAULT = "2,000-image soak with the autoscaler"
RESULT_TIMEOUT = 300.0  # seconds without a new result before the job gives up: a stall, reported as lost


class FleetWatch:
    """The most workers running at once, looked at every half second while the job runs."""

    def __init__(self, fleet):
        self.fleet, self.most = fleet, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="soak-fleet-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self.most = max(self.most, self.fleet.observe().running)

    def __enter__(self) -> FleetWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="copies of the 100-image workload (default 20)")
    parser.add_argument("--max-workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not WORKLOAD.is_dir():
        raise SystemExit(f"the workload is not at {WORKLOAD}")
    cfg = load_config(env={}).replace(max_workers=args.max_workers)
    with tempfile.TemporaryDirectory(prefix="imgrec-soak-") as tmp:
        workload_copies(Path(tmp) / "images", args.copies)
        items = scan([Path(tmp) / "images"]).images
        print(f"{len(items)} images; starting an embedded cloud with the autoscaler (at most "
              f"{args.max_workers} workers)…", file=sys.stderr, flush=True)
        with EmbeddedCloud(cfg, workers=0, autoscale=True, log_dir=Path(tmp) / "workers") as cloud:
            with FleetWatch(cloud.fleet) as watch, JobClient(cloud.cfg) as client:
                started = time.monotonic()
                job = client.submit(items)
                results = list(client.collect(job, timeout=RESULT_TIMEOUT))
                seconds = time.monotonic() - started
        exits = list(cloud.fleet.exited)  # every worker, the cloud stopped
    codes = sorted(code for _, code, _ in exits)
    row = Recorder("bench/soak.py", os.environ.get(OUT_ENV)).record(
        FAULT, images=len(items), results=results, expected=[i.name for i in items], seconds=seconds,
        note=f"one job; at most {watch.most} workers running; worker exit codes {codes}")
    labels: dict[str, set[str]] = defaultdict(set)  # photo -> the labels its copies got
    for r in results:
        if r.ok:
            labels[r.name.split("/", 1)[-1]].add(r.label)
    disagreeing = sum(1 for found in labels.values() if len(found) > 1)
    figures = {
        "images_in": row.images, "results_out": row.results, "lost": row.lost, "duplicated": row.duplicated,
        "error_rows": row.errors, "seconds": row.seconds, "images_per_s": round(row.images / seconds, 1),
        "most_workers": watch.most, "max_workers": args.max_workers, "photos_with_disagreeing_copies": disagreeing,
        "worker_exit_codes": codes, "cores": os.cpu_count(),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name.replace('_', ' '):<{width}}  {value}")
    print(json.dumps(figures))
    if any(codes):
        print("note: a worker exited with another code than 0 (143: a second SIGTERM cut its drain short); "
              "see its log", file=sys.stderr)
    return 1 if row.lost or row.duplicated or row.errors or disagreeing else 0


if __name__ == "__main__":
    sys.exit(main())
