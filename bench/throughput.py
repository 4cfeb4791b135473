"""Throughput, measured in one run on the same images (the 100-image workload repeated to >= 300):

(a) in-process: the same model, batched, from image files on disk to labels (decode + preprocess included);
(b) pipeline: one warm worker end to end through the embedded local cloud, first upload to last result;
(c) naive: the original app tier's way, a new process per image that loads the model and classifies one file.

Prints a table, then one JSON line with pipeline_ips, inprocess_ips, naive_ips and the two ratios.
Goals: pipeline >= 0.9 x in-process, and >= 100 x naive.

    .venv/bin/python bench/throughput.py [--repeat 3] [--naive-sample 10] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKLOAD = ROOT.parent / "shared" / "workloads" / "imagenet-100"


def workload_copies(dest: Path, repeat: int) -> list[Path]:
    """The workload repeated: copy r of test_7.JPEG is dest/r<r>/test_7.JPEG (same bytes, own name)."""
    files = sorted(WORKLOAD.glob("*.JPEG"))
    out = []
    for r in range(repeat):
        folder = dest / f"r{r}"
        folder.mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, folder / f.name)
            out.append(folder / f.name)
    return out


def inprocess(folder: Path, batch_size: int) -> tuple[float, dict[str, str]]:
    """`imgrec predict`'s own path: threaded read + decode, batched inference, one model."""
    from cloud.worker.models import load_classifier
    from cloud.worker.predict import predict_items
    from shared.config import load_config
    from shared.scan import scan

    cfg = load_config(env={})
    classifier = load_classifier(cfg.model, cfg.device)
    items = scan([folder]).images
    list(predict_items(classifier, items[:batch_size], cfg, batch_size))  # warm up
    start = time.perf_counter()
    results = list(predict_items(classifier, items, cfg, batch_size))
    elapsed = time.perf_counter() - start
    assert not [r for r in results if r.error]
    return len(items) / elapsed, {str(folder / r.name): r.label for r in results}


def pipeline(folder: Path, n_expected: int, window: int | None) -> tuple[float, dict[str, str], dict]:
    from cloud.embedded import EmbeddedCloud
    from shared.config import load_config
    from shared.job import JobClient
    from shared.scan import scan

    cfg = load_config(env={})
    with EmbeddedCloud(cfg, workers=1) as cloud:  # returns once the worker is warm (model loaded)
        client = JobClient(cloud.cfg, window=window)
        try:
            scanned = scan([folder])
            assert len(scanned.images) == n_expected, (len(scanned.images), n_expected)
            start = time.perf_counter()
            job = client.submit(scanned.images)
            submitted = time.perf_counter() - start
            results = list(client.collect(job))
            elapsed = time.perf_counter() - start
        finally:
            client.close()
    failed = [r for r in results if r.error]
    assert not failed, failed[:3]
    assert len(results) == n_expected and len({r.request_id for r in results}) == n_expected
    labels = {str(folder / r.name): r.label for r in results}
    return n_expected / elapsed, labels, {"submit_s": round(submitted, 2), "total_s": round(elapsed, 2)}


def naive(paths: list[Path]) -> float:
    env = dict(os.environ)
    start = time.perf_counter()
    for path in paths:
        subprocess.run([sys.executable, "-m", "cloud.cli", "predict", str(path)], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return len(paths) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="workload copies (default 3: 300 images)")
    parser.add_argument("--naive-sample", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
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
        inprocess_ips, reference = inprocess(Path(tmp) / "images", args.batch_size)
        print(f"(a) in-process batched: {inprocess_ips:.1f} images/s", file=sys.stderr)
        pipeline_ips, cloud_labels, detail = pipeline(Path(tmp) / "images", len(paths), args.window)
        print(f"(b) pipeline, one warm worker: {pipeline_ips:.1f} images/s {detail}", file=sys.stderr)
        naive_ips = naive(paths[: args.naive_sample])
        print(f"(c) naive, process per image: {naive_ips:.2f} images/s", file=sys.stderr)

    mismatches = sum(1 for k, v in reference.items() if cloud_labels.get(k) != v)
    report = {
        "images": len(paths),
        "pipeline_ips": round(pipeline_ips, 2),
        "inprocess_ips": round(inprocess_ips, 2),
        "naive_ips": round(naive_ips, 3),
        "pipeline_vs_inprocess": round(pipeline_ips / inprocess_ips, 3),
        "pipeline_vs_naive": round(pipeline_ips / naive_ips, 1),
        "label_mismatches": mismatches,
        "cpus": os.cpu_count(),
    }
    print("| measure | images/s |\n|---|---|")
    print(f"| (a) in-process batched | {inprocess_ips:.1f} |")
    print(f"| (b) pipeline, 1 warm worker | {pipeline_ips:.1f} |")
    print(f"| (c) naive, process per image | {naive_ips:.2f} |")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
