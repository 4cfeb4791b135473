"""In-process classification of files on disk, with no cloud: the reference the cloud path must equal.

Same decode guards, same model, same preprocessing as the worker; reading and decoding the next
batch runs in threads while the current one is classified.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from cloud.worker.decode import BadImage, decode_image, min_size_for
from cloud.worker.models.engine import ImageClassifier
from shared.config import Config
from shared.messages import Result
from shared.scan import Item

PREDICT_JOB_ID = "predict"
READ_CONCURRENCY = 4


def _load(item: Item, cfg: Config, classifier: ImageClassifier):
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror or exc}") from None
    return classifier.prepare(decode_image(data, cfg.max_image_pixels, cfg.max_image_bytes, min_size_for(classifier)))


def predict_items(classifier: ImageClassifier, items: Sequence[Item], cfg: Config,
                  batch_size: int | None = None) -> Iterator[Result]:
    """One Result per item, in order: a label, or the error that kept it from one."""
    size = batch_size or cfg.batch_size
    chunks = [list(enumerate(items))[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY, thread_name_prefix="read") as pool:
        def start(chunk) -> list[tuple[int, Item, Future]]:
            return [(index, item, pool.submit(_load, item, cfg, classifier)) for index, item in chunk]

        pending = start(chunks[0]) if chunks else []
        for n in range(len(chunks)):
            current, pending = pending, (start(chunks[n + 1]) if n + 1 < len(chunks) else [])
            prepared, good, errors = [], [], {}
            for index, _item, future in current:
                try:
                    prepared.append(future.result())
                    good.append(index)
                except BadImage as exc:
                    errors[index] = exc.reason
            tick = time.perf_counter()
            predictions = dict(zip(good, classifier.classify_prepared(prepared), strict=True))
            inference_s = time.perf_counter() - tick
            for index, item, _ in current:
                base = {"request_id": str(index), "job_id": PREDICT_JOB_ID, "name": item.name,
                        "model": classifier.name}
                if index in errors:
                    yield Result(**base, error=errors[index])
                else:
                    p = predictions[index]
                    yield Result(**base, label=p.label, score=p.score, top5=p.top5,
                                 timings={"inference_s": inference_s, "batch": float(len(good))})
