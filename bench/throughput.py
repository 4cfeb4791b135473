"""Throughput and CPU per image, measured in one run on the same images (the workload repeated to >= 300):

(a) in-process, each engine: the model batched, from files on disk to labels (decode + preprocess
    included; `imgrec predict`'s own path), each engine at its own best batch size (bench/batch_sweep.py);
(b) pipeline: one warm worker (the default engine, onnx) end to end through the embedded local cloud,
    first upload to last result, with the CPU time of each process: worker, moto server, client;
(c) naive: the original app tier's way, a new process per image that loads the torch model and
    classifies one file.

Prints a table, then one JSON line: pipeline_ips, inprocess_ips (onnx), inprocess_torch_ips, naive_ips,
engine_speedup (onnx over torch in-process), engine_cpu_ms (in-process onnx), worker_cpu_ms, moto_cpu_ms,
client_cpu_ms (CPU ms per image, process by process) and the ratios. Goals: engine_speedup >= 2.0,
worker_cpu_ms <= 1.15 x engine_cpu_ms, pipeline >= 100 x naive.

    .venv/bin/python bench/throughput.py [--repeat 3] [--naive-sample 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measure import WORKLOAD, own_cpu_seconds, process_cpu_seconds, workload_copies  # noqa: E402

BEST_BATCH = {"onnx": 16, "torch": 8}  # bench/batch_sweep.py on the development machine (README)


def inprocess(folder: Path, engine: str, batch_size: int) -> tuple[float, float, dict[str, str]]:
    """`imgrec predict`'s own path: threaded read + decode, batched inference, one model.
    Returns (images/s, CPU ms per image of this process, labels)."""
    from cloud.worker.models.engine import load_engine
    from cloud.worker.predict import predict_items
    from shared.config import load_config
    from shared.scan import scan

    cfg = load_config(env={}).replace(engine=engine, batch_size=batch_size)
    classifier = load_engine(cfg)
    items = scan([folder]).images
    list(predict_items(classifier, items[:batch_size], cfg, batch_size))  # warm up
    start, cpu = time.perf_counter(), own_cpu_seconds()
    results = list(predict_items(classifier, items, cfg, batch_size))
    elapsed, cpu = time.perf_counter() - start, own_cpu_seconds() - cpu
    assert not [r for r in results if r.error]
    return len(items) / elapsed, 1000 * cpu / len(items), {str(folder / r.name): r.label for r in results}


def pipeline(folder: Path, n_expected: int, window: int | None, batch_size: int) -> tuple[float, dict[str, str], dict]:
    from cloud.local.embedded import EmbeddedCloud
    from shared.config import load_config
    from shared.job import JobClient
    from shared.scan import scan

    cfg = load_config(env={}).replace(batch_size=batch_size)
    with EmbeddedCloud(cfg, workers=1) as cloud:  # returns once the worker is warm (model loaded)
        worker_pid = next(iter(cloud.fleet.pids().values()))
        moto_pid = cloud.server.process.pid
        client = JobClient(cloud.cfg, window=window)
        try:
            scanned = scan([folder])
            assert len(scanned.images) == n_expected, (len(scanned.images), n_expected)
            cpu = {"worker": process_cpu_seconds(worker_pid), "moto": process_cpu_seconds(moto_pid),
                   "client": own_cpu_seconds()}
            start = time.perf_counter()
            job = client.submit(scanned.images)
            submitted = time.perf_counter() - start
            results = list(client.collect(job))
            elapsed = time.perf_counter() - start
            cpu = {"worker": process_cpu_seconds(worker_pid) - cpu["worker"],
                   "moto": process_cpu_seconds(moto_pid) - cpu["moto"], "client": own_cpu_seconds() - cpu["client"]}
        finally:
            client.close()
    failed = [r for r in results if r.error]
    assert not failed, failed[:3]
    assert len(results) == n_expected and len({r.request_id for r in results}) == n_expected
    labels = {str(folder / r.name): r.label for r in results}
    cpu_ms = {f"{name}_cpu_ms": round(1000 * seconds / n_expected, 1) for name, seconds in cpu.items()}
    return n_expected / elapsed, labels, {"submit_s": round(submitted, 2), "total_s": round(elapsed, 2), **cpu_ms}


def naive(paths: list[Path]) -> float:
    env = dict(os.environ)
    start = time.perf_counter()
    for path in paths:
        subprocess.run([sys.executable, "-m", "cloud.cli", "predict", "--engine", "torch", str(path)], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return len(paths) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="workload copies (default 3: 300 images)")
    parser.add_argument("--naive-sample", type=int, default=10)
    parser.add_argument("--onnx-batch", type=int, default=BEST_BATCH["onnx"])
    parser.add_argument("--torch-batch", type=int, default=BEST_BATCH["torch"])
    parser.add_argument("--window", type=int, default=None,
                        help="requests of the job queued at once (default: the client's own choice; 0: no limit)")
    args = parser.parse_args()
    if not WORKLOAD.is_dir():
        print(f"workload not found at {WORKLOAD}: nothing to measure", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        paths = workload_copies(Path(tmp) / "images", args.repeat)
        print(f"{len(paths)} images ({args.repeat} x workload) on {platform.machine()}, {os.cpu_count()} cores",
              file=sys.stderr)
        folder = Path(tmp) / "images"
        torch_ips, torch_cpu_ms, reference = inprocess(folder, "torch", args.torch_batch)
        print(f"(a) in-process, torch: {torch_ips:.1f} images/s, {torch_cpu_ms:.1f} CPU ms/image", file=sys.stderr)
        inprocess_ips, engine_cpu_ms, onnx_labels = inprocess(folder, "onnx", args.onnx_batch)
        print(f"(a) in-process, onnx: {inprocess_ips:.1f} images/s, {engine_cpu_ms:.1f} CPU ms/image", file=sys.stderr)
        pipeline_ips, cloud_labels, detail = pipeline(folder, len(paths), args.window, args.onnx_batch)
        print(f"(b) pipeline, one warm worker: {pipeline_ips:.1f} images/s {detail}", file=sys.stderr)
        naive_ips = naive(paths[: args.naive_sample])
        print(f"(c) naive, process per image: {naive_ips:.2f} images/s", file=sys.stderr)

    report = {
        "images": len(paths),
        "pipeline_ips": round(pipeline_ips, 2),
        "inprocess_ips": round(inprocess_ips, 2),
        "inprocess_torch_ips": round(torch_ips, 2),
        "naive_ips": round(naive_ips, 3),
        "engine_speedup": round(inprocess_ips / torch_ips, 2),
        "engine_cpu_ms": round(engine_cpu_ms, 1),
        "torch_cpu_ms": round(torch_cpu_ms, 1),
        "worker_cpu_ms": detail["worker_cpu_ms"],
        "moto_cpu_ms": detail["moto_cpu_ms"],
        "client_cpu_ms": detail["client_cpu_ms"],
        "worker_vs_engine_cpu": round(detail["worker_cpu_ms"] / engine_cpu_ms, 2),
        "pipeline_vs_inprocess": round(pipeline_ips / inprocess_ips, 3),
        "pipeline_vs_naive": round(pipeline_ips / naive_ips, 1),
        "label_mismatches_onnx_vs_torch": sum(1 for k, v in reference.items() if onnx_labels.get(k) != v),
        "label_mismatches_pipeline_vs_torch": sum(1 for k, v in reference.items() if cloud_labels.get(k) != v),
        "batch": {"onnx": args.onnx_batch, "torch": args.torch_batch},
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 1),
    }
    print("| measure | images/s | CPU ms per image |\n|---|---:|---:|")
    print(f"| (a) in-process, torch eager, batch {args.torch_batch} | {torch_ips:.1f} | {torch_cpu_ms:.1f} |")
    print(f"| (a) in-process, onnxruntime, batch {args.onnx_batch} | {inprocess_ips:.1f} | {engine_cpu_ms:.1f} |")
    print(f"| (b) pipeline, 1 warm worker: worker / moto / client | {pipeline_ips:.1f} | "
          f"{detail['worker_cpu_ms']} / {detail['moto_cpu_ms']} / {detail['client_cpu_ms']} |")
    print(f"| (c) naive, process per image (torch) | {naive_ips:.2f} | |")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
