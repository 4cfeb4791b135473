"""Per-entry failures of SQS batch calls are reported, not dropped; send_batch backs off between tries."""

from __future__ import annotations

import logging
import time

import pytest

from cloud.worker.visibility import Heartbeat
from shared.config import load_config
from shared.sqs import RECEIPT_IS_INVALID, SEND_ATTEMPTS, BatchFailed, SQSService


@pytest.fixture
def sqs(moto_server):
    return SQSService(load_config(env={}, overrides={"endpoint_url": moto_server.endpoint}))


@pytest.fixture
def url(sqs, request):
    url = sqs.create_queue(f"batch-failures-{request.node.name[-40:]}-{time.monotonic_ns()}",
                           {"VisibilityTimeout": "2"})
    yield url
    sqs.delete_queue(url)


def _received(sqs, url, n):
    sqs.send_batch(url, [f"m{i}" for i in range(n)])
    got = []
    while len(got) < n:
        got += sqs.receive(url, wait=1)
    return got


def test_a_visibility_batch_reports_exactly_the_invalid_receipt(sqs, url):
    held = _received(sqs, url, 12)  # two calls: the bad entry is in the second
    receipts = [m.receipt for m in held[:11]] + ["not-a-receipt"]
    [failed] = sqs.change_visibility_batch(url, receipts, 30)
    assert failed.receipt == "not-a-receipt" and failed.code == RECEIPT_IS_INVALID and failed.receipt_is_invalid


def test_a_delete_batch_reports_exactly_the_invalid_receipt(sqs, url):
    held = _received(sqs, url, 3)
    [failed] = sqs.delete_batch(url, [held[0].receipt, "not-a-receipt", held[2].receipt])
    assert failed.receipt == "not-a-receipt" and failed.receipt_is_invalid
    assert sqs.depth(url).total == 1  # the two good ones went
    assert sqs.delete_batch(url, [held[1].receipt]) == []
    assert sqs.depth(url).total == 0


def test_the_heartbeat_stops_extending_a_receipt_sqs_calls_invalid(sqs, url, caplog):
    [message] = _received(sqs, url, 1)
    heartbeat = Heartbeat(sqs, url, visibility_timeout=2, interval=0.2).start()
    try:
        with caplog.at_level(logging.WARNING, logger="cloud.worker.visibility"):
            heartbeat.track([message.receipt, "not-a-receipt"])
            deadline = time.monotonic() + 5
            while heartbeat.lost == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert heartbeat.lost == 1 and heartbeat.held == 1  # the real one is still held and extended
        assert any("not-a-receipt" in r.getMessage() and "no longer held" in r.getMessage()
                   for r in caplog.records)
    finally:
        heartbeat.stop()


class _FlakySends:
    """A client whose send_message_batch fails the given entry ids for the first ``times`` calls."""

    def __init__(self, failing: set[str], times: int, sender_fault: bool = False):
        self.failing, self.times, self.sender_fault, self.calls = failing, times, sender_fault, []

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's names
        self.calls.append([e["Id"] for e in Entries])
        if len(self.calls) > self.times:
            return {"Successful": [{"Id": e["Id"]} for e in Entries]}
        return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": self.sender_fault}
                           for e in Entries if e["Id"] in self.failing]}


def test_send_batch_resends_only_the_failed_entries_after_a_jittered_pause():
    client, pauses = _FlakySends({"3"}, times=2), []
    SQSService(load_config(env={}), client=client, sleep=pauses.append).send_batch("url", list("abcdef"))
    assert client.calls == [list("012345"), ["3"], ["3"]]
    assert len(pauses) == 2 and 0 <= pauses[0] < 0.1 + 1e-9 and 0 <= pauses[1] < 0.2 + 1e-9


def test_send_batch_gives_up_after_its_attempts():
    client, pauses = _FlakySends({"0"}, times=99), []
    with pytest.raises(BatchFailed, match="1 message"):
        SQSService(load_config(env={}), client=client, sleep=pauses.append).send_batch("url", ["a"])
    assert len(client.calls) == SEND_ATTEMPTS and len(pauses) == SEND_ATTEMPTS - 1
