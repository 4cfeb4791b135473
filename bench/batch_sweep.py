"""Batch size sweep: model images/s at each batch size, for each engine, on the same prepared images.

The worker prepares each image (decode, resize, crop) in its download threads and hands the model
batches of up to ``batch_size``; this measures that last step alone, so the batch size that suits
the engine stands out. Each cell classifies the standard workload (100 images) ``--repeat`` times
after one warm-up batch. Prints a table, then one JSON line with the best batch per engine.

    .venv/bin/python bench/batch_sweep.py [--sizes 1,2,4,8,16,32,64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measure import WORKLOAD  # noqa: E402


def sweep(classifier, prepared: list, sizes: list[int], repeat: int) -> dict[int, float]:
    rates = {}
    for size in sizes:
        classifier.classify_prepared(prepared[:size])  # warm-up: first call allocates
        work = prepared * repeat
        started = time.perf_counter()
        for i in range(0, len(work), size):
            classifier.classify_prepared(work[i : i + size])
        rates[size] = len(work) / (time.perf_counter() - started)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4,8,16,32,64")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not WORKLOAD.is_dir():
        print(f"workload not found at {WORKLOAD}: nothing to measure", file=sys.stderr)
        return 2
    from cloud.worker.decode import decode_image
    from cloud.worker.models.engine import load_engine
    from shared.config import load_config

    sizes = [int(s) for s in args.sizes.split(",")]
    images = [decode_image(p.read_bytes()) for p in sorted(WORKLOAD.glob("*.JPEG"))]
    table: dict[str, dict[int, float]] = {}
    for engine in ("onnx", "torch"):
        classifier = load_engine(load_config(env={}).replace(engine=engine, device="cpu"))
        prepared = [classifier.prepare(image) for image in images]
        table[engine] = sweep(classifier, prepared, sizes, args.repeat)
        print(f"{engine}: " + ", ".join(f"{s}: {r:.0f}" for s, r in table[engine].items()), file=sys.stderr)
    print("| batch | " + " | ".join(f"{e} (images/s)" for e in table) + " | onnx / torch |")
    print("|---:|" + "---:|" * (len(table) + 1))
    for size in sizes:
        print(f"| {size} | " + " | ".join(f"{table[e][size]:.0f}" for e in table)
              + f" | {table['onnx'][size] / table['torch'][size]:.2f} |")
    best = {engine: max(rates, key=rates.get) for engine, rates in table.items()}
    report = {"images_per_s": {e: {str(s): round(r, 1) for s, r in rates.items()} for e, rates in table.items()},
              "best_batch": best,
              "best_speedup": round(table["onnx"][best["onnx"]] / table["torch"][best["torch"]], 2),
              "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
