"""Worker start-up: from starting the process to its first ReceiveMessage, for each engine.

A request is already waiting on the queue when the worker starts, so the first receive takes it
at once: the moment the queue reports it in flight is the moment of the first ReceiveMessage
(seen from outside, by polling GetQueueAttributes every 5 ms). Also timed: the worker's own
``ready`` status line. The model bundle is in the worker's cache (a warm instance, a baked
image), or not (``cold cache``: the worker downloads it from the output bucket first).

Prints a table, then one JSON line. Goal: under 1 s for the onnx engine with a warm cache.

    .venv/bin/python bench/startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_start(cfg, image: Path, cache: Path) -> tuple[float, float]:
    """(seconds to the ready line, seconds to the first receive) for one worker process."""
    from cloud.worker.process import spawn_worker
    from shared.job import JobClient
    from shared.scan import scan
    from shared.sqs import SQSService
    from shared.worker_status import parse_status_line

    cfg = cfg.replace(model_cache=str(cache))
    sqs = SQSService(cfg)
    url = sqs.url(cfg.request_queue)
    with JobClient(cfg) as client:
        job = client.submit(scan([image]).images)
        while sqs.depth(url).visible < 1:
            time.sleep(0.005)
        started = time.perf_counter()
        worker = spawn_worker(cfg, f"startup-{os.getpid()}", log_path=os.devnull)
        ready: list[float] = []

        def read_status() -> None:
            for line in worker.stdout:
                status = parse_status_line(line)
                if status and status.state == "ready" and not ready:
                    ready.append(time.perf_counter() - started)

        reader = threading.Thread(target=read_status, daemon=True)
        reader.start()
        try:
            while True:
                depth = sqs.depth(url)
                if depth.in_flight or depth.visible == 0:
                    received = time.perf_counter() - started
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with code {worker.returncode}")
                time.sleep(0.005)
            list(client.collect(job, timeout=60))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            reader.join(timeout=5)
            worker.stdout.close()
            # The server completes a stopped worker's last long poll (up to wait_time) and would hand
            # the next round's request to it: let that poll run out first.
            time.sleep(cfg.wait_time + 0.5)
    return ready[0] if ready else float("nan"), received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from cloud.local.server import MotoServer
    from cloud.worker.models import store
    from shared.config import load_config
    from shared.provision import provision

    image = ROOT / "samples" / "coffee.png"
    rows, report = [], {}
    with MotoServer() as server, tempfile.TemporaryDirectory() as tmp:
        cfg = server.config(load_config(env={}).replace(wait_time=1))
        provision(cfg)
        warm = Path(tmp) / "warm-cache"
        bundle = store.publish_model(cfg.replace(model_cache=None))  # the user's cache: exports once
        for engine in ("onnx", "torch"):
            for cache_state in (("warm", "cold") if engine == "onnx" else ("-",)):
                times = []
                for r in range(args.rounds):
                    cache = warm if cache_state != "cold" else Path(tmp) / f"cold-{r}"
                    if cache_state == "warm" and r == 0:
                        store.fetch(store.S3Service(cfg), cfg.output_bucket, cfg.model, warm)
                    times.append(one_start(cfg.replace(engine=engine), image, cache))
                ready = statistics.median(t[0] for t in times)
                first = statistics.median(t[1] for t in times)
                rows.append((engine, cache_state, ready, first, [round(t[1], 2) for t in times]))
                report[f"{engine}_{cache_state}_first_receive_s".replace("_-", "")] = round(first, 3)
    print("| engine | bundle cache | to `ready` (median) | to first ReceiveMessage (median) | rounds |")
    print("|---|---|---:|---:|---|")
    for engine, cache_state, ready, first, each in rows:
        print(f"| {engine} | {cache_state} | {ready:.2f} s | {first:.2f} s | {each} |")
    report.update(model=bundle.model, cpus=os.cpu_count(), load_average=round(os.getloadavg()[0], 1))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
