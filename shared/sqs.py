"""Thin SQS access: batched send/delete/visibility, long-poll receive, queue depth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared import aws
from shared.backoff import Backoff
from shared.config import MAX_BATCH, Config


@dataclass(frozen=True)
class Message:
    id: str
    receipt: str
    body: str
    receive_count: int


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


SEND_ATTEMPTS = 5  # calls per chunk of send_batch, on top of botocore's own retries of whole calls
SEND_BACKOFF = Backoff(first=0.1, longest=2.0)  # pause before sending again the entries that failed

MAX_LIST_QUEUES = 1000  # ListQueues: queue URLs per page, at most
RECEIPT_IS_INVALID = "ReceiptHandleIsInvalid"  # the message went back to the queue, or another took it


class BatchFailed(Exception):
    """Some entries of a batch call failed for good (after retries)."""


@dataclass(frozen=True)
class EntryFailed:
    """One entry of a delete or visibility batch that SQS refused."""

    receipt: str
    code: str
    message: str = ""
    sender_fault: bool = False

    @property
    def receipt_is_invalid(self) -> bool:
        """The receipt no longer names a message this caller holds: retrying it cannot help."""
        return self.code == RECEIPT_IS_INVALID


class SQSService:
    def __init__(self, cfg: Config, client=None, sleep: Callable[[float], None] = time.sleep):
        self.cfg = cfg
        self._sleep = sleep
        self.client = client or aws.client(cfg, "sqs")
        # ReceiveMessage holds the connection for up to wait_time s: only it gets a long-poll client
        # (built on first receive); an injected client serves both.
        self._receive_client = client
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        with self._lock:
            if name not in self._urls:
                self._urls[name] = self.client.get_queue_url(QueueName=name)["QueueUrl"]
            return self._urls[name]

    def exists(self, name: str) -> bool:
        try:
            self.url(name)
            return True
        except ClientError as exc:
            if queue_is_missing(exc):
                return False
            raise

    # --- send --------------------------------------------------------------------------------
    def send_batch(self, url: str, bodies: Sequence[str]) -> None:
        """Sends every body, in calls of 10; entries that fail are retried, then raise BatchFailed."""
        for start in range(0, len(bodies), MAX_BATCH):
            chunk = {str(i): body for i, body in enumerate(bodies[start : start + MAX_BATCH])}
            for attempt in range(1, SEND_ATTEMPTS + 1):
                if attempt > 1:
                    self._sleep(SEND_BACKOFF.delay(attempt - 1))
                entries = [{"Id": i, "MessageBody": b} for i, b in chunk.items()]
                response = self.client.send_message_batch(QueueUrl=url, Entries=entries)
                failed = response.get("Failed", [])
                permanent = [f for f in failed if f.get("SenderFault")]
                if permanent:
                    raise BatchFailed(f"SQS refused {len(permanent)} message(s): {permanent[0].get('Message')}")
                chunk = {f["Id"]: chunk[f["Id"]] for f in failed}
                if not chunk:
                    break
            else:
                raise BatchFailed(f"{len(chunk)} message(s) could not be sent to {url}")

    # --- receive -----------------------------------------------------------------------------
    def receive(self, url: str, max_messages: int = MAX_BATCH, wait: int | None = None,
                visibility: int | None = None) -> list[Message]:
        kwargs = {
            "QueueUrl": url,
            "MaxNumberOfMessages": min(max_messages, MAX_BATCH),
            "WaitTimeSeconds": self.cfg.wait_time if wait is None else wait,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility is not None:
            kwargs["VisibilityTimeout"] = visibility
        response = self._long_poll_client().receive_message(**kwargs)
        return [
            Message(
                id=m["MessageId"],
                receipt=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in response.get("Messages", [])
        ]

    def _long_poll_client(self):
        with self._lock:
            if self._receive_client is None:
                self._receive_client = aws.client(self.cfg, "sqs", long_poll=True)
            return self._receive_client

    # --- delete / visibility -------------------------------------------------------------------
    def delete_batch(self, url: str, receipts: Sequence[str]) -> list[EntryFailed]:
        """Deletes in calls of 10; returns the entries SQS refused (none when all went)."""
        return self._per_receipt(self.client.delete_message_batch, url, receipts, {})

    def change_visibility_batch(self, url: str, receipts: Sequence[str], timeout: int) -> list[EntryFailed]:
        """Sets the visibility timeout in calls of 10; returns the entries SQS refused."""
        return self._per_receipt(self.client.change_message_visibility_batch, url, receipts,
                                 {"VisibilityTimeout": timeout})

    @staticmethod
    def _per_receipt(call, url: str, receipts: Sequence[str], extra: dict) -> list[EntryFailed]:
        failed: list[EntryFailed] = []
        for start in range(0, len(receipts), MAX_BATCH):
            chunk = {str(i): r for i, r in enumerate(receipts[start : start + MAX_BATCH])}
            response = call(QueueUrl=url, Entries=[{"Id": i, "ReceiptHandle": r, **extra} for i, r in chunk.items()])
            failed.extend(
                EntryFailed(receipt=chunk[f["Id"]], code=f.get("Code", ""), message=f.get("Message", ""),
                            sender_fault=bool(f.get("SenderFault")))
                for f in response.get("Failed", [])
                if f.get("Id") in chunk
            )
        return failed

    # --- depth -----------------------------------------------------------------------------------
    def depth(self, url: str) -> QueueDepth:
        attrs = self.client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return QueueDepth(
            visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    # --- queues ----------------------------------------------------------------------------------
    def create_queue(self, name: str, attributes: dict[str, str] | None = None,
                     tags: dict[str, str] | None = None) -> str:
        kwargs = {"tags": tags} if tags else {}  # in the same call: no moment without them
        url = self.client.create_queue(QueueName=name, Attributes=attributes or {}, **kwargs)["QueueUrl"]
        with self._lock:
            self._urls[name] = url
        return url

    def delete_queue(self, url: str) -> None:
        try:
            self.client.delete_queue(QueueUrl=url)
        except ClientError as exc:
            if not queue_is_missing(exc):
                raise
        with self._lock:
            self._urls = {k: v for k, v in self._urls.items() if v != url}

    def queue_urls(self, prefix: str) -> list[str]:
        """The URLs of every queue whose name starts with ``prefix``, all pages of them."""
        pages = self.client.get_paginator("list_queues").paginate(
            QueueNamePrefix=prefix, PaginationConfig={"PageSize": MAX_LIST_QUEUES})
        return [url for page in pages for url in page.get("QueueUrls", [])]

    def tags(self, url: str) -> dict[str, str]:
        return self.client.list_queue_tags(QueueUrl=url).get("Tags", {})

    def tag(self, url: str, tags: dict[str, str]) -> None:
        """Sets these tags (others stay as they are)."""
        self.client.tag_queue(QueueUrl=url, Tags=tags)

    def created(self, url: str) -> float:
        """When the queue was created, in Unix seconds."""
        attrs = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])["Attributes"]
        return float(attrs["CreatedTimestamp"])


def queue_is_missing(exc: BaseException) -> bool:
    """Whether an SQS call failed because the queue does not exist (or no longer does)."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code", "")
    return "NonExistentQueue" in code or code == "QueueDoesNotExist"
