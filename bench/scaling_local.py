"""The autoscaler on this machine, through the real embedded cloud (moto server, real workers, real model).

Default: from zero workers (an idle `imgrec up`), submit the 100-image workload and measure
  * first backlog -> first running worker (the scaler's reaction, then a cold start: process start,
    model load). Goal <= 5 s;
  * last result collected -> zero worker processes. Goal <= 2 s;
and report the most workers seen and the job's wall time. Prints a table, then one JSON line.

--measure-cap: throughput of the 100-image workload with 1, 2 and 3 warm workers (fixed, no
scaler), to choose the local fleet's default cap (defaults.LOCAL_MAX_WORKERS).

    .venv/bin/python bench/scaling_local.py [--measure-cap] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKLOAD = ROOT.parent / "shared" / "workloads" / "imagenet-100"

from cloud.local.embedded import EmbeddedCloud  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.job import JobClient  # noqa: E402
from shared.scan import scan  # noqa: E402
from shared.sqs import SQSService  # noqa: E402

POLL_SECONDS = 0.02


def run_job(cfg, on_result=None) -> tuple[float, int]:
    images = scan([WORKLOAD]).images
    with JobClient(cfg) as client:
        start = time.monotonic()
        job = client.submit(images)
        results = list(client.collect(job, on_result=on_result))
        elapsed = time.monotonic() - start
    errors = [r for r in results if r.error]
    if len(results) != len(images) or errors:
        raise SystemExit(f"the job came back with {len(results)} results for {len(images)} images, "
                         f"{len(errors)} errors")
    return elapsed, len(results)


def autoscale_round(base, log_dir: Path) -> dict:
    with EmbeddedCloud(base, workers=0, autoscale=True, log_dir=log_dir) as cloud:
        fleet = cloud.scaler.fleet
        sqs = SQSService(cloud.cfg)
        url = sqs.url(cloud.cfg.request_queue)
        marks: dict[str, float] = {}
        most = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal most
            while not stop.is_set():
                now = time.time()
                if "backlog" not in marks and sqs.depth(url).total > 0:
                    marks["backlog"] = now
                state = fleet.observe()
                most = max(most, state.running + state.booting)
                if "last_result" in marks and not state.workers:
                    marks["zero"] = now
                    return
                stop.wait(POLL_SECONDS)

        time.sleep(1.0)  # an idle embedded cloud: zero workers
        if fleet.observe().workers:
            raise SystemExit("workers were running before any backlog")
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        last = [0.0]
        elapsed, count = run_job(cloud.cfg, on_result=lambda r: last.__setitem__(0, time.time()))
        marks["last_result"] = last[0]
        watcher.join(timeout=30)
        stop.set()
        if "zero" not in marks:
            raise SystemExit("the fleet did not go back to zero within 30 s of the last result")
        spawned = next(t.ts for t in cloud.scaler.recent if t.launched)
        return {
            "first_worker_s": fleet.first_ready_at - marks["backlog"],
            "reaction_s": spawned - marks["backlog"],  # the scaler's part: backlog seen, process spawned
            "cold_start_s": fleet.first_ready_at - spawned,  # the worker's part: start, load the model
            "to_zero_s": marks["zero"] - marks["last_result"],
            "max_workers_seen": most,
            "worker_rate": cloud.scaler.recent[-1].rate,  # images/s per worker, as the workers measured it
            "job_s": elapsed,
            "images": count,
        }


def measure_cap(base, log_dir: Path, counts=(1, 2, 3)) -> dict:
    rates = {}
    for n in counts:
        with EmbeddedCloud(base, workers=n, log_dir=log_dir / f"fixed-{n}") as cloud:
            run_job(cloud.cfg)  # warm-up: first batches, connection pools
            elapsed, count = run_job(cloud.cfg)
            rates[n] = count / elapsed
            print(f"| {n} | {count} | {elapsed:.1f} | {rates[n]:.1f} |", flush=True)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure-cap", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not WORKLOAD.is_dir():
        print(f"the 100-image workload is not at {WORKLOAD}", file=sys.stderr)
        return 2
    base = load_config(env={})
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="imgrec-bench-") as tmp:
        if args.measure_cap:
            print(f"Fixed local workers on the 100-image workload ({machine})\n")
            print("| workers | images | seconds | images/s |\n|---:|---:|---:|---:|")
            rates = measure_cap(base, Path(tmp))
            best = max(rates, key=rates.get)
            print()
            print(json.dumps({"images_per_s": {str(k): round(v, 2) for k, v in rates.items()}, "best": best}))
            return 0

        print(f"Autoscaled embedded cloud, 100-image workload from zero workers ({machine})\n")
        print("| round | first backlog -> first worker (s) | of which: scaler reaction | worker cold start "
              "| last result -> zero workers (s) | most workers | measured images/s per worker | job (s) |\n"
              "|---:|---:|---:|---:|---:|---:|---:|---:|")
        rounds = []
        for r in range(args.rounds):
            got = autoscale_round(base, Path(tmp) / f"round-{r}")
            rounds.append(got)
            print(f"| {r + 1} | {got['first_worker_s']:.2f} | {got['reaction_s']:.2f} | {got['cold_start_s']:.2f} "
                  f"| {got['to_zero_s']:.2f} | {got['max_workers_seen']} | {got['worker_rate'] or 0:.1f} "
                  f"| {got['job_s']:.1f} |", flush=True)
    first = statistics.median(r["first_worker_s"] for r in rounds)
    zero = statistics.median(r["to_zero_s"] for r in rounds)
    print()
    print(json.dumps({
        "first_worker_s": round(first, 2), "to_zero_s": round(zero, 2),
        "reaction_s": round(statistics.median(r["reaction_s"] for r in rounds), 2),
        "cold_start_s": round(statistics.median(r["cold_start_s"] for r in rounds), 2),
        "first_worker_worst_s": round(max(r["first_worker_s"] for r in rounds), 2),
        "to_zero_worst_s": round(max(r["to_zero_s"] for r in rounds), 2),
        "max_workers_seen": max(r["max_workers_seen"] for r in rounds),
        "goals": {"first_worker_within_5s": first <= 5.0, "zero_within_2s": zero <= 2.0},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
