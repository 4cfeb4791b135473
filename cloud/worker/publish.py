"""Answers: a batch's results to the output bucket, one object per job in the batch, then each to
its request's reply queue (grouped by queue, in batches of 10), then the requests deleted in batches.

Results go to ``results/<job_id>/<batch_id>.json`` (``shared.result_objects``): one S3 PUT per job in a
batch rather than one per image. The batch id is new for every object, so a request redelivered after
its object was written (the worker died before the delete) is answered again in another object;
readers keep the first result per request id.

A request is deleted only once the object holding its result is durable in S3 and its reply sent. If
one job's object cannot be written, only that job's requests are retried. A reply queue that no
longer exists is not an error (the client left; its result is in S3 for ``imgrec results``). Any
other failure leaves the request un-deleted, visible again after a short delay, so it is retried
(and, after max_receives, kept in the dead-letter queue). Runs in its own thread, beside inference.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from botocore.exceptions import ClientError

from cloud.worker.inbox import Work
from cloud.worker.receiver import RETRY_DELAY_SECONDS
from cloud.worker.visibility import Heartbeat
from shared.layout import new_batch_id, result_batch_key
from shared.messages import Result
from shared.result_objects import batch_body
from shared.s3 import S3Service
from shared.sqs import SQSService, queue_is_missing

log = logging.getLogger(__name__)

PUT_CONCURRENCY = 8


def _queue_is_gone(exc: Exception) -> bool:
    """The reply queue does not exist (any more), or its URL names no queue at all."""
    invalid = isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "InvalidAddress"
    return invalid or queue_is_missing(exc)


class Publisher:
    def __init__(self, s3: S3Service, sqs: SQSService, output_bucket: str, request_url: str,
                 heartbeat: Heartbeat, on_done: Callable[[int], None] = lambda n: None):
        self._s3 = s3
        self._sqs = sqs
        self._bucket = output_bucket
        self._url = request_url
        self._heartbeat = heartbeat
        self._on_done = on_done
        self._order = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        self._puts = ThreadPoolExecutor(max_workers=PUT_CONCURRENCY, thread_name_prefix="put-result")

    def submit(self, answers: Sequence[tuple[Work, Result]]) -> Future:
        return self._order.submit(self.publish, list(answers))

    def close(self) -> None:
        """Waits for every submitted batch to be published."""
        self._order.shutdown(wait=True)
        self._puts.shutdown(wait=True)

    def publish(self, answers: list[tuple[Work, Result]]) -> int:
        if not answers:
            return 0
        durable = self._write_results(answers)
        replied = self._send_replies(durable)
        done = [work.receipt for work, _ in replied]
        answered = set(done)
        retry = [work.receipt for work, _ in answers if work.receipt not in answered]
        if done:
            try:
                failed = self._sqs.delete_batch(self._url, done) or []
            except Exception as exc:  # noqa: BLE001 - they come back and are answered again
                log.warning("could not delete %d answered request(s): %s", len(done), exc)
            else:
                for f in failed:  # durable all the same: a redelivery is answered again, readers de-duplicate
                    log.warning("could not delete answered request %s: %s %s", f.receipt[:16], f.code, f.message)
            self._heartbeat.untrack(done)
            self._on_done(len(done))
        if retry:
            self._heartbeat.release(retry, delay=RETRY_DELAY_SECONDS)
        return len(done)

    def _write_results(self, answers: list[tuple[Work, Result]]) -> list[tuple[Work, Result]]:
        by_job: dict[str, list[tuple[Work, Result]]] = defaultdict(list)
        for work, result in answers:
            by_job[result.job_id].append((work, result))

        def put(job_id: str, group: list[tuple[Work, Result]]) -> None:
            key = result_batch_key(job_id, new_batch_id())
            self._s3.put_bytes(self._bucket, key, batch_body([result for _, result in group]), "application/json")

        futures = [(job_id, group, self._puts.submit(put, job_id, group)) for job_id, group in by_job.items()]
        durable = []
        for job_id, group, future in futures:
            try:
                future.result()
                durable.extend(group)
            except Exception as exc:  # noqa: BLE001 - this job's requests are retried, the others go on
                log.warning("could not write %d result(s) of job %s to s3://%s: %s", len(group), job_id,
                            self._bucket, exc)
        return durable

    def _send_replies(self, durable: list[tuple[Work, Result]]) -> list[tuple[Work, Result]]:
        by_queue: dict[str, list[tuple[Work, Result]]] = defaultdict(list)
        for work, result in durable:
            by_queue[work.request.reply_queue].append((work, result))
        replied = []
        for queue_url, group in by_queue.items():
            try:
                self._sqs.send_batch(queue_url, [result.to_json() for _, result in group])
            except Exception as exc:  # noqa: BLE001
                if not _queue_is_gone(exc):
                    log.warning("could not reply to %s: %s", queue_url, exc)
                    continue
                log.info("reply queue %s is gone; %d result(s) are in S3 only", queue_url, len(group))
            replied.extend(group)
        return replied
