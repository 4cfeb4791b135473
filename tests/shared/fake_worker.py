"""A stand-in worker that answers like the real one: the results of a batch to S3 as one object per
job, replies to the request's reply queue, requests deleted; with knobs to lose, repeat or ignore."""

from __future__ import annotations

from collections import defaultdict

from botocore.exceptions import ClientError

from shared import layout
from shared.config import Config
from shared.messages import Request, Result
from shared.result_objects import batch_body
from shared.s3 import S3Service
from shared.sqs import SQSService


class FakeWorker:
    """Answers requests like the real worker, with knobs to lose, repeat or ignore replies."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.s3, self.sqs = S3Service(cfg), SQSService(cfg)
        self.url = self.sqs.url(cfg.request_queue)
        self.seen: list[Request] = []
        self.redelivered: set[str] = set()
        self.inputs: dict[str, bytes] = {}  # request id -> the image its request names

    def serve(self, *, lose_reply=(), duplicate=(), ignore=(), redeliver=(), old_format=False,
              limit: int | None = None) -> int:
        """Answers what is queued now; names in ``lose_reply`` get only the S3 result, in ``duplicate``
        two replies, in ``ignore`` nothing at all (the request is deleted), in ``redeliver`` an answer
        but no delete the first time (as if the worker died before deleting it), so the request comes
        back and is answered again in another batch. ``old_format`` writes one object per result, as
        builds before batch objects did. Returns requests handled."""
        handled = 0
        while limit is None or handled < limit:
            messages = self.sqs.receive(self.url, wait=0)
            if not messages:
                return handled
            by_job: dict[str, list[Result]] = defaultdict(list)
            replies: list[tuple[Request, Result]] = []
            done, again = [], []
            for message in messages:
                request = Request.from_json(message.body)
                self.seen.append(request)
                handled += 1
                if request.name in redeliver and request.name not in self.redelivered:
                    self.redelivered.add(request.name)
                    again.append(message.receipt)
                else:
                    done.append(message.receipt)
                if request.name in ignore:
                    continue
                self.inputs[request.request_id] = self.s3.get_bytes(request.bucket, request.key,
                                                                    byte_range=request.byte_range)
                result = Result(request_id=request.request_id, job_id=request.job_id, name=request.name,
                                label=f"label-of-{request.name}", score=0.5, top5=(("x", 0.5),),
                                model="fake", worker_id="fake-1")
                by_job[request.job_id].append(result)
                replies.append((request, result))
            for job_id, results in by_job.items():
                if old_format:
                    for result in results:
                        self.s3.put_json(self.cfg.output_bucket, old_result_key(result), result.to_dict())
                else:
                    self.s3.put_bytes(self.cfg.output_bucket, layout.result_batch_key(job_id, layout.new_batch_id()),
                                      batch_body(results))
            for request, result in replies:
                if request.name not in lose_reply:
                    copies = 2 if request.name in duplicate else 1
                    try:
                        self.sqs.send_batch(request.reply_queue, [result.to_json()] * copies)
                    except ClientError as exc:  # the client left: like the real worker, its result is in S3
                        if "NonExistentQueue" not in str(exc):
                            raise
            if done:
                self.sqs.delete_batch(self.url, done)
            if again:
                self.sqs.change_visibility_batch(self.url, again, 0)
        return handled


def old_result_key(result: Result) -> str:
    """Where builds before batch objects wrote each result."""
    return f"results/{result.job_id}/{result.request_id}.json"


def result_objects(cfg: Config, job_id: str) -> list[str]:
    return list(S3Service(cfg).list_keys(cfg.output_bucket, layout.result_prefix(job_id)))


def collect_all(client, job, timeout=10.0) -> list[Result]:
    return list(client.collect(job, timeout=timeout))
