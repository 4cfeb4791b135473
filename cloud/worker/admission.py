"""Admission: what a worker checks in a request before it acts on it.

A request is only text that someone could put on the queue; the worker's credentials reach further
than one job should. So before any download, reply or S3 write, a request must name only this
project's things, in the shapes a client makes:

- its job and request ids match ``shared.layout.KNOWN_JOB_ID`` and ``REQUEST_ID`` (they become S3 keys);
- its bucket is the configured input bucket, and its key is under the job's prefix: one of the job's
  input packs (``shared.layout.pack_key``), with the byte range of its image, or the request's own
  input key (``shared.layout.input_key``, requests of earlier builds), nothing else. The range's
  shape is checked when the message is parsed (``shared.messages``), its size against
  ``max_image_bytes`` by the download (``cloud.worker.fetch``), which answers rather than refuses;
- its reply queue is one of ours: a queue named with the reply-queue prefix, in the same account and
  on the same endpoint (scheme, host and port) as the request queue. On AWS the host names the
  region (``https://sqs.<region>.amazonaws.com/<account>/<name>``), so the same host is the same region.

A refused request cannot be answered safely (its reply queue is not to be trusted): the receiver moves
it to the dead-letter queue with the reason, which names the field.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared import layout
from shared.config import Config
from shared.messages import Request

MAX_QUEUE_NAME = 80  # SQS: up to 80 of [A-Za-z0-9_-]
_QUEUE_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_QUEUE_NAME}}}")
_SHOWN_CHARS = 100  # of a refused value, in the reason


def _show(value: str) -> str:
    """A value from the wire, quoted and escaped for a log line, and cut short."""
    return repr(value[:_SHOWN_CHARS] + ("…" if len(value) > _SHOWN_CHARS else ""))


class Admission:
    def __init__(self, cfg: Config, request_queue_url: str):
        own = urlsplit(request_queue_url)
        parts = own.path.split("/")
        if len(parts) != 3 or not parts[1]:
            raise ValueError(f"not an SQS queue URL: {request_queue_url!r}")
        self._input_bucket = cfg.input_bucket
        self._reply_prefix = cfg.reply_queue_prefix
        self._not_replies = {cfg.request_queue, cfg.dead_letter_queue}
        self._scheme, self._netloc, self._account = own.scheme, own.netloc.lower(), parts[1]

    def refusal(self, request: Request) -> str | None:
        """Why the request is refused, naming the field; None when the worker may act on it."""
        if not layout.KNOWN_JOB_ID.fullmatch(request.job_id):
            return f"job id {_show(request.job_id)} is not a job id"
        if not layout.REQUEST_ID.fullmatch(request.request_id):
            return f"request id {_show(request.request_id)} is not a request id"
        if request.bucket != self._input_bucket:
            return f"bucket {_show(request.bucket)} is not the input bucket"
        if not request.key.startswith(layout.job_prefix(request.job_id)):
            return f"key {_show(request.key)} is not under the job's input prefix"
        if layout.is_pack_key(request.key, request.job_id):
            if request.length is None:
                return f"key {_show(request.key)} is an input pack but the request names no byte range in it"
        elif not layout.is_input_key(request.key, request.job_id, request.request_id):
            return f"key {_show(request.key)} is not the input key of request {request.request_id}"
        return self._reply_refusal(request.reply_queue)

    def _reply_refusal(self, url: str) -> str | None:
        try:
            reply = urlsplit(url)
            netloc = reply.netloc.lower()
        except ValueError:
            return f"reply queue {_show(url)} is not a URL"
        if (reply.scheme, netloc) != (self._scheme, self._netloc):
            return f"reply queue {_show(url)} is not on this project's SQS endpoint"
        parts = reply.path.split("/")
        if len(parts) != 3 or url.lower() != f"{self._scheme}://{self._netloc}{reply.path}".lower():
            return f"reply queue {_show(url)} is not a queue URL"  # more path, a query, a fragment...
        account, name = parts[1], parts[2]
        if account != self._account:
            return f"reply queue {_show(url)} is not in this project's account"
        if (not name.startswith(self._reply_prefix) or not _QUEUE_NAME.fullmatch(name)
                or name in self._not_replies):
            return f"reply queue {_show(url)} is not a reply queue (named {self._reply_prefix}…)"
        return None
