"""Batch size sweep: model images/s at each batch size, for each engine, on the same prepared images.

The worker prepares each image (decode, resize, crop) in its download threads and hands the model
batches of up to ``batch_size``; this measures that last step alone (batch assembly, normalisation and
inference), so the batch size that suits the engine stands out. This machine's speed wanders by tens of
percent from one second to the next, so the cells are measured in ``--rounds`` rounds, each engine right
after the other at the same batch size, ``--seconds`` per cell; the table gives each cell's median and
the median of the paired ratios. Prints a table, then one JSON line with the best batch per engine.

    .venv/bin/python bench/batch_sweep.py [--sizes 1,2,4,8,16,32,64] [--rounds 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measure import WORKLOAD  # noqa: E402


def rate(classifier, prepared: list, size: int, seconds: float) -> float:
    """Images/s classifying ``prepared`` in batches of ``size`` for about ``seconds``."""
    classifier.classify_prepared(prepared[:size])  # warm-up: the first call at a new size allocates
    done, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = prepared[i : i + size] if i + size <= len(prepared) else prepared[:size]
        classifier.classify_prepared(batch)
        done += len(batch)
        i = (i + size) % len(prepared)
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,4,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell and round")
    args = parser.parse_args()
    if not WORKLOAD.is_dir():
        print(f"workload not found at {WORKLOAD}: nothing to measure", file=sys.stderr)
        return 2
    from cloud.worker.decode import decode_image
    from cloud.worker.models.engine import load_engine
    from shared.config import load_config

    sizes = [int(s) for s in args.sizes.split(",")]
    images = [decode_image(p.read_bytes()) for p in sorted(WORKLOAD.glob("*.JPEG"))]
    engines = ("onnx", "torch")
    classifiers = {e: load_engine(load_config(env={}).replace(engine=e, device="cpu")) for e in engines}
    prepared = {e: [c.prepare(image) for image in images] for e, c in classifiers.items()}
    samples: dict[str, dict[int, list[float]]] = {e: {s: [] for s in sizes} for e in engines}
    for r in range(args.rounds):
        for size in sizes:
            for engine in engines:
                samples[engine][size].append(rate(classifiers[engine], prepared[engine], size, args.seconds))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    table = {e: {s: statistics.median(v) for s, v in by_size.items()} for e, by_size in samples.items()}
    ratio = {s: statistics.median(o / t for o, t in zip(samples["onnx"][s], samples["torch"][s], strict=True))
             for s in sizes}
    print("| batch | onnx (images/s) | torch (images/s) | onnx / torch (paired) |")
    print("|---:|---:|---:|---:|")
    for size in sizes:
        print(f"| {size} | {table['onnx'][size]:.0f} | {table['torch'][size]:.0f} | {ratio[size]:.2f} |")
    best = {engine: max(rates, key=rates.get) for engine, rates in table.items()}
    report = {"images_per_s": {e: {str(s): round(r, 1) for s, r in rates.items()} for e, rates in table.items()},
              "onnx_over_torch": {str(s): round(r, 2) for s, r in ratio.items()},
              "best_batch": best,
              "best_speedup": round(table["onnx"][best["onnx"]] / table["torch"][best["torch"]], 2),
              "rounds": args.rounds, "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
