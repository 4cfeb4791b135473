"""The worker loop: receive -> download and decode -> batched inference -> publish -> delete.

Four stages run at once, each in its own threads, so inference (the one stage that needs the CPU or
GPU) never waits on I/O when there is work: receivers keep up to a batch of requests in hand ahead of
it (several long polls in flight), download threads fetch, decode and preprocess each image as soon
as it is received, the loop takes whatever is ready (up to ``batch_size``, never waiting for a full
batch) and classifies it, and the publisher writes, replies and deletes the batch before while the
next one runs. A heartbeat extends the visibility of everything in hand.

Stopping (``stop()``, the first SIGTERM, or the idle timeout): no more receives, the batch in hand is
finished and published, requests received but not started are made visible again at once. Then the
worker waits out its receivers' long polls (at most ``wait_time`` plus a margin): SQS completes a poll
even after the caller is gone, and whatever it hands a vanished worker would stay hidden for a whole
visibility timeout, stalling the next job. What the last polls bring, and what was received but not
started, is given back (visibility 0) once no poll of this worker is open to receive it again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from cloud.worker.fetch import Fetched, InputError, fetch
from cloud.worker.inbox import Inbox, Work
from cloud.worker.models.engine import ImageClassifier
from cloud.worker.packs import PackReader
from cloud.worker.publish import Publisher
from cloud.worker.receiver import RETRY_DELAY_SECONDS, Receivers
from cloud.worker.status import StatusReporter, default_worker_id
from cloud.worker.visibility import Heartbeat, heartbeat_interval
from shared import worker_status as states
from shared.config import MAX_BATCH, Config
from shared.layout import PACK_MAX_BYTES
from shared.messages import Result
from shared.s3 import S3Service
from shared.sqs import SQSService

log = logging.getLogger(__name__)

DOWNLOAD_CONCURRENCY = 16
MAX_RECEIVERS = 4
TAKE_WAIT_SECONDS = 0.2  # how long the loop waits for work before re-checking stop and idle
PUBLISH_BACKLOG = 2  # batches being published before inference waits for the publisher
RECEIVE_MARGIN_SECONDS = 5  # beyond wait_time, for a long poll's round trip when a worker stops


def _wait(published: Future) -> None:
    try:
        published.result()
    except Exception:  # noqa: BLE001 - its requests were not deleted: they come back
        log.exception("publishing a batch failed")


class Worker:
    def __init__(
        self,
        cfg: Config,
        classifier: ImageClassifier,
        *,
        worker_id: str | None = None,
        s3: S3Service | None = None,
        sqs: SQSService | None = None,
        status: StatusReporter | None = None,
        stop_event: threading.Event | None = None,
    ):
        self.cfg = cfg
        self.classifier = classifier
        self.worker_id = worker_id or default_worker_id()
        self.s3 = s3 or S3Service(cfg)
        self.sqs = sqs or SQSService(cfg)
        self.status = status or StatusReporter(self.worker_id)
        self.stopping = stop_event or threading.Event()
        self.interval = heartbeat_interval(cfg)  # asserts it is shorter than the visibility timeout
        self.processed = 0
        self.batches = 0
        self.exit_reason = ""
        self._last_work_at = time.monotonic()
        self._receivers: Receivers | None = None
        self._downloads: ThreadPoolExecutor | None = None

    def stop(self, reason: str = "") -> None:
        """Drain: finish the batch in hand, give back what was received but not started, return.
        ``reason``: what the log says the worker stopped for (default: asked to stop)."""
        if reason and not self.exit_reason:
            self.exit_reason = reason
        self.stopping.set()

    def join(self, timeout: float) -> bool:
        """After run() returned: waits for the threads it leaves behind (a receiver can sit in a long
        poll for up to wait_time; a download may be finishing). True when all have ended. A process
        that is exiting need not call it; a test that stops its fake AWS afterwards must."""
        deadline = time.monotonic() + timeout
        if self._downloads is not None:
            self._downloads.shutdown(wait=True)
        if self._receivers is not None:
            self._receivers.join(max(0.0, deadline - time.monotonic()))
            return not self._receivers.alive
        return True

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        request_url = self.sqs.url(cfg.request_queue)
        heartbeat = Heartbeat(self.sqs, request_url, cfg.visibility_timeout, self.interval).start()
        downloads = ThreadPoolExecutor(max_workers=DOWNLOAD_CONCURRENCY, thread_name_prefix="download")
        packs = PackReader(self.s3, max(PACK_MAX_BYTES, cfg.max_image_bytes))
        inbox = Inbox(capacity=cfg.batch_size)
        receivers = Receivers(
            self.sqs, request_url, lambda: self.sqs.url(cfg.dead_letter_queue), cfg.wait_time, inbox, heartbeat,
            start_fetch=lambda request: downloads.submit(fetch, self.s3, cfg, request, self.classifier.prepare,
                                                         packs=packs),
            stopping=self.stopping,
            count=min(MAX_RECEIVERS, max(1, math.ceil(cfg.batch_size / MAX_BATCH))),
        )
        publisher = Publisher(self.s3, self.sqs, cfg.output_bucket, request_url, heartbeat,
                              on_done=self._count)
        self._inbox, self._receivers, self._downloads = inbox, receivers, downloads
        log.info("worker %s: %s on %s, batches of up to %d, polling %s", self.worker_id, self.classifier.name,
                 self.classifier.device, cfg.batch_size, cfg.request_queue)
        if not self.stopping.is_set():  # a stop during start-up: straight to draining
            self.status.set(states.READY)
        receivers.start()
        publishing: list[Future] = []
        try:
            while not self.stopping.is_set():
                batch = inbox.take(cfg.batch_size, TAKE_WAIT_SECONDS)
                if not batch:
                    if self.status.state == states.BUSY and heartbeat.held == 0:
                        self.status.set(states.IDLE)
                    if self._idle_too_long(receivers):
                        self.exit_reason = f"idle for {cfg.idle_timeout:g} s"
                        break
                    continue
                self.status.set(states.BUSY)
                publishing.append(publisher.submit(self._process(batch, heartbeat)))
                while len(publishing) > PUBLISH_BACKLOG:
                    _wait(publishing.pop(0))
                self._last_work_at = time.monotonic()
        finally:
            self.exit_reason = self.exit_reason or "asked to stop"
            log.info("worker %s stopping (%s)", self.worker_id, self.exit_reason)
            self.status.set(states.DRAINING)
            self.stopping.set()
            left = inbox.close()
            for work in left:
                work.fetch.cancel()
            publisher.close()
            downloads.shutdown(wait=False, cancel_futures=True)
            receivers.join(timeout=cfg.wait_time + RECEIVE_MARGIN_SECONDS)
            if receivers.alive:
                log.warning("a receive did not end within %d s; its messages return after the visibility "
                            "timeout", cfg.wait_time + RECEIVE_MARGIN_SECONDS)
            # Only now, with no poll of this worker open to take them again: everything not started.
            heartbeat.release([w.receipt for w in left] + receivers.held_back(), delay=0)
            heartbeat.stop()
            self.status.set(states.STOPPED)
        return 0

    def _idle_too_long(self, receivers: Receivers) -> bool:
        if not self.cfg.idle_timeout:
            return False
        last = max(receivers.last_message_at, self._last_work_at)
        return time.monotonic() - last >= self.cfg.idle_timeout

    def _count(self, n: int) -> None:
        self.processed += n
        self.status.add_processed(n)

    # --- one batch -------------------------------------------------------------------------------
    def _process(self, batch: Sequence[Work], heartbeat: Heartbeat) -> list[tuple[Work, Result]]:
        """Results for every work of the batch that has an answer; the rest are released for retry."""
        answers: list[tuple[Work, Result]] = []
        retry: list[Work] = []
        ready: list[tuple[Work, Fetched]] = []
        waited = time.perf_counter()
        try:
            for work in batch:
                try:
                    ready.append((work, work.fetch.result()))
                except InputError as exc:
                    answers.append((work, self._result(work, error=exc.reason)))
                except Exception as exc:  # noqa: BLE001 - transient: leave it for a retry
                    log.warning("could not fetch %s (s3://%s/%s): %s", work.request.request_id,
                                work.request.bucket, work.request.key, exc)
                    retry.append(work)
            if ready:
                started = time.time()
                tick = time.perf_counter()
                predictions = self.classifier.classify_prepared([fetched.prepared for _, fetched in ready])
                inference_s = time.perf_counter() - tick
                log.debug("batch of %d: waited %.3f s for downloads, inference %.3f s (%d in the inbox)",
                          len(ready), tick - waited, inference_s, len(self._inbox))
                for (work, fetched), prediction in zip(ready, predictions, strict=True):
                    answers.append((work, self._result(
                        work, prediction=prediction, started=started, inference_s=inference_s,
                        fetched=fetched, batch=len(ready))))
            self.batches += 1
        except Exception:  # noqa: BLE001 - e.g. out of memory: the whole batch goes back for a retry
            log.exception("batch of %d failed; its requests will be retried", len(batch))
            answered = {work.receipt for work, _ in answers}
            retry = [work for work in batch if work.receipt not in answered]
        if retry:
            heartbeat.release([w.receipt for w in retry], delay=RETRY_DELAY_SECONDS)
        return answers

    def _result(self, work: Work, *, error: str | None = None, prediction=None, started: float | None = None,
                inference_s: float = 0.0, fetched: Fetched | None = None, batch: int = 0) -> Result:
        request = work.request
        timings = {"submitted": request.submitted, "received": work.received}
        if started is not None:
            timings["started"] = started
        if fetched is not None:
            timings.update(download_s=fetched.download_s, decode_s=fetched.decode_s)
        if prediction is not None:
            timings.update(inference_s=inference_s, batch=float(batch))
        timings["finished"] = time.time()
        return Result(
            request_id=request.request_id,
            job_id=request.job_id,
            name=request.name,
            label=prediction.label if prediction else None,
            score=prediction.score if prediction else None,
            top5=prediction.top5 if prediction else (),
            model=self.classifier.name,
            worker_id=self.worker_id,
            error=error,
            timings=timings,
        )
