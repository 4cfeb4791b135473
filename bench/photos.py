"""Real photos, not thumbnails: what 12 MP JPEGs cost the worker, and what preview uploads save.

The workload is made here, in a temporary folder, from the standard one (see :func:`make_photos`):
each 64x64 image centre-cropped to 4:3, upscaled to 4000x3000 (bicubic), given sensor-like noise
(Gaussian, sigma 4 grey levels shared by the three channels plus sigma 2 per channel, seeded per
file) and saved as a JPEG at quality 92 with 4:2:0 chroma subsampling, as cameras and phones do:
about 3 MB each.

Measured in-process, with ``time.process_time`` (CPU seconds, all threads of this process) around
the same functions the worker runs, per image:

- full: ``decode_image`` at full size, then the classifier's ``prepare`` (resize + centre crop);
- draft: ``decode_image`` with the model's resize as the smallest size it needs (JPEG DCT scaling);
- preview: what ``upload = preview`` sends (``shared.preview``, made on the client and not counted
  here), decoded and prepared by the worker;
- model: ``classify_prepared`` on batches of the prepared images, per image.

Also the bytes uploaded per image (original and preview), and how often the draft and preview labels
agree with the full decode's. Prints a table, then one JSON line.

    .venv/bin/python bench/photos.py [--count 100] [--model efficientnet-lite0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKLOAD = ROOT.parent / "shared" / "workloads" / "imagenet-100"

PHOTO_SIZE = (4000, 3000)  # 12 MP, 4:3
PHOTO_QUALITY = 92
NOISE_LUMA = 4.0  # grey levels, shared by R, G and B
NOISE_CHROMA = 2.0  # grey levels, per channel


def make_photo(source: Path, dest: Path, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> Path:
    """One camera-like JPEG from a small image: centre-cropped to the aspect of ``size``, upscaled
    (bicubic), noisy like a sensor, saved at quality 92 (4:2:0)."""
    with Image.open(source) as small:
        small = small.convert("RGB")
        width, height = small.size
        aspect = size[0] / size[1]
        if width / height > aspect:
            crop_w, crop_h = round(height * aspect), height
        else:
            crop_w, crop_h = width, round(width / aspect)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        big = small.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(big, dtype=np.float32)
    pixels += rng.standard_normal(pixels.shape[:2], dtype=np.float32)[..., None] * np.float32(NOISE_LUMA)
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(NOISE_CHROMA)
    np.clip(pixels, 0, 255, out=pixels)
    Image.fromarray(pixels.astype(np.uint8)).save(dest, "JPEG", quality=PHOTO_QUALITY, subsampling="4:2:0")
    return dest


def make_photos(dest: Path, count: int = 100, size: tuple[int, int] = PHOTO_SIZE,
                workload: Path = WORKLOAD, seed: int = 0) -> list[Path]:
    """The first ``count`` workload images (test_0 ... in numeric order) as 12 MP photos in ``dest``;
    photo i's noise is seeded with ``seed + i``."""
    sources = sorted(workload.glob("*.JPEG"), key=lambda p: int(p.stem.rsplit("_", 1)[-1]))[:count]
    if not sources:
        raise SystemExit(f"the workload is not at {workload}")
    dest.mkdir(parents=True, exist_ok=True)
    return [make_photo(src, dest / f"{src.stem}.jpg", size, seed=seed + i) for i, src in enumerate(sources)]


# --- the measurement --------------------------------------------------------------------------------
def _cpu_ms(fn, *args):
    started = time.process_time()
    value = fn(*args)
    return value, (time.process_time() - started) * 1000


def _classify(classifier, prepared: list, batch_size: int) -> tuple[list, float]:
    """Predictions for prepared images, in batches, and the CPU ms that took."""
    predictions, ms = [], 0.0
    for start in range(0, len(prepared), batch_size):
        batch, spent = _cpu_ms(classifier.classify_prepared, prepared[start : start + batch_size])
        predictions += batch
        ms += spent
    return predictions, ms


def measure(classifier, photos: list[Path], cfg, batch_size: int = 10) -> dict:
    """Per image: CPU ms of decode + prepare three ways, bytes uploaded two ways, and the labels."""
    from cloud.worker import decode
    from cloud.worker.decode import decode_image, min_size_for
    from shared.preview import preview_jpeg, preview_long_side

    min_size = min_size_for(classifier)
    preprocessing = getattr(classifier, "preprocessing", None)
    long_side = preview_long_side(preprocessing.to_dict() if preprocessing else None)

    def worker(data: bytes, size: int | None):
        return classifier.prepare(decode_image(data, cfg.max_image_pixels, cfg.max_image_bytes, size))

    default_draft = decode.DRAFT

    ways = ("full", "draft", "preview")
    prepared = {way: [] for way in ways}
    cpu = {way: 0.0 for way in (*ways, "make_preview")}
    sent = {"original": 0, "preview": 0}
    for path in photos:
        data = path.read_bytes()
        preview, ms = _cpu_ms(preview_jpeg, path, long_side, cfg.max_image_pixels, len(data))
        cpu["make_preview"] += ms
        preview = preview or data
        sent["original"] += len(data)
        sent["preview"] += len(preview)
        for way, payload, size in (("full", data, None), ("draft", data, min_size), ("preview", preview, min_size)):
            decode.DRAFT = way == "draft" or default_draft  # the draft column drafts whatever the default
            try:
                image, ms = _cpu_ms(worker, payload, size)
            finally:
                decode.DRAFT = default_draft
            cpu[way] += ms
            prepared[way].append(image)
    predictions, model_ms = {}, 0.0
    for way in ways:
        predictions[way], ms = _classify(classifier, prepared[way], batch_size)
        model_ms += ms
    labels = {way: [p.label for p in predictions[way]] for way in ways}
    n = len(photos)
    agree = {way: sum(a == b for a, b in zip(labels["full"], labels[way], strict=True)) for way in ways[1:]}
    in_top5 = {way: sum(b in [label for label, _ in p.top5] for p, b in zip(predictions["full"], labels[way],
                                                                          strict=True)) for way in ways[1:]}
    return {
        "images": n,
        "cpu_ms": {way: cpu[way] / n for way in cpu} | {"model": model_ms / (3 * n)},
        "bytes": {kind: sent[kind] / n for kind in sent},
        "agree": {way: agree[way] / n for way in agree},
        "in_full_top5": {way: in_top5[way] / n for way in in_top5},
        # (photo, full decode's label, this way's label, full decode's top-1 minus top-2 probability)
        "disagreements": {way: [(photos[i].name, labels["full"][i], labels[way][i],
                                 round(predictions["full"][i].top5[0][1] - predictions["full"][i].top5[1][1], 4))
                                for i in range(n) if labels["full"][i] != labels[way][i]] for way in agree},
        "min_size": min_size,
        "preview_long_side": long_side,
    }


def noise_floor(classifier, photos: list[Path], folder: Path, cfg) -> float:
    """How often the full decode's label stays the same when only the sensor noise changes."""
    from cloud.worker.decode import decode_image

    again = make_photos(folder, len(photos), seed=1000)

    def labels(paths: list[Path]) -> list[str]:
        prepared = [classifier.prepare(decode_image(p.read_bytes(), cfg.max_image_pixels, cfg.max_image_bytes))
                    for p in paths]
        return [p.label for p in _classify(classifier, prepared, 10)[0]]

    return sum(a == b for a, b in zip(labels(photos), labels(again), strict=True)) / len(photos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="photos to make from the workload (<= 100)")
    parser.add_argument("--model", default=None, help="default: the configured model")
    parser.add_argument("--engine", default=None, choices=("auto", "onnx", "torch"))
    parser.add_argument("--keep", type=Path, default=None, help="make (or reuse) the photos in this folder")
    parser.add_argument("--noise-floor", action="store_true",
                        help="also make the photos again with other noise and count equal full-decode labels")
    args = parser.parse_args()

    from cloud.worker.models.engine import load_engine
    from shared.config import Config

    cfg = Config()
    changes = {k: v for k, v in (("model", args.model), ("engine", args.engine)) if v}
    if changes:
        cfg = cfg.replace(source="bench/photos.py", **changes)
    classifier = load_engine(cfg)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="imgrec-photos-") as tmp:
        folder = args.keep or Path(tmp)
        photos = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[-1]))
        if len(photos) < args.count:
            started = time.perf_counter()
            photos = make_photos(folder, args.count)
            print(f"made {len(photos)} photos in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        figures = measure(classifier, photos[: args.count], cfg)
        if args.noise_floor:
            figures["noise_floor"] = noise_floor(classifier, photos[: args.count], Path(tmp) / "reseeded", cfg)
    figures |= {"model": classifier.name, "engine": getattr(classifier, "engine", "?"),
                "loadavg_before": [round(v, 2) for v in load_before],
                "loadavg_after": [round(v, 2) for v in os.getloadavg()],
                "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    cpu, sent = figures["cpu_ms"], figures["bytes"]
    print(f"{figures['images']} photos {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, {figures['model']} ({figures['engine']}), "
          f"load average {figures['loadavg_before'][0]} -> {figures['loadavg_after'][0]} on {figures['cpus']} CPUs")
    print(f"{'worker path':<10} {'decode+prep ms':>15} {'+ model ms':>11} {'uploaded/image':>15} {'labels = full':>14}")
    for way, kind in (("full", "original"), ("draft", "original"), ("preview", "preview")):
        agree = "—" if way == "full" else f"{figures['agree'][way]:.0%}"
        print(f"{way:<10} {cpu[way]:>15.1f} {cpu[way] + cpu['model']:>11.1f} "
              f"{sent[kind] / 1e3:>12.1f} KB {agree:>14}")
    print(f"model alone {cpu['model']:.1f} ms/image (batches of 10); making a preview on the client "
          f"{cpu['make_preview']:.1f} ms/image (long side {figures['preview_long_side']})")
    print(f"labels in the full decode's top 5: draft {figures['in_full_top5']['draft']:.0%}, "
          f"preview {figures['in_full_top5']['preview']:.0%}")
    for way, rows in figures["disagreements"].items():
        for name, full, other, margin in rows:
            print(f"  {way}: {name}: full {full!r}, {way} {other!r} (full's top-1 lead {margin:.3f})")
    if "noise_floor" in figures:
        print(f"the same photos with other sensor noise, full decode: {figures['noise_floor']:.0%} equal labels")
    print(json.dumps(figures | {"cpu_ms": {k: round(v, 2) for k, v in cpu.items()}}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
