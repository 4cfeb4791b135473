"""A delete that SQS refuses for one answered request is logged, by request; the others still go."""

from __future__ import annotations

import logging

from shared.sqs import EntryFailed
from tests.cloud.worker.test_publish import FakeS3, FakeSQS, answer, publish


class OneDeleteRefused(FakeSQS):
    def delete_batch(self, url, receipts):
        super().delete_batch(url, receipts)
        return [EntryFailed(receipt=receipts[1], code="ReceiptHandleIsInvalid", sender_fault=True)]


def test_a_refused_delete_is_logged_and_the_batch_still_counts(caplog):
    sqs = OneDeleteRefused()
    answers = [answer("job", n) for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="cloud.worker.publish"):
        assert publish(FakeS3(), sqs, answers) == 3
    refused = answers[1][0].receipt
    [record] = [r for r in caplog.records if "could not delete" in r.getMessage()]
    assert refused[:16] in record.getMessage() and "ReceiptHandleIsInvalid" in record.getMessage()
    assert sqs.released == []  # its result is durable: nothing is sent back to be worked again
