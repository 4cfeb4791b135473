"""The heartbeat keeps messages in hand invisible past their timeout; release gives them back."""

from __future__ import annotations

import time

import pytest
from moto import mock_aws

from cloud.worker.visibility import Heartbeat, heartbeat_interval
from shared.config import load_config
from shared.sqs import SQSService


@pytest.fixture
def sqs():
    with mock_aws():
        cfg = load_config(env={})
        yield SQSService(cfg)


def test_heartbeat_extends_what_is_held_and_release_gives_it_back(sqs):
    url = sqs.create_queue("beats", {"VisibilityTimeout": "1"})
    sqs.send_batch(url, ["work"])
    [message] = sqs.receive(url, wait=0)
    heartbeat = Heartbeat(sqs, url, visibility_timeout=1, interval=0.3).start()
    try:
        heartbeat.track([message.receipt])
        tracked_at = time.monotonic()
        # Poll until the message has been held well past its 1 s timeout, with extensions sent along the
        # way; without the heartbeat it would be visible again, and every poll checks it is not.
        deadline = tracked_at + 30
        while heartbeat.beats < 4 or time.monotonic() - tracked_at < 2.0:
            assert time.monotonic() < deadline, f"only {heartbeat.beats} beats"
            depth = sqs.depth(url)
            assert (depth.visible, depth.in_flight) == (0, 1), depth
            time.sleep(0.05)
        assert sqs.receive(url, wait=0) == []
        heartbeat.release([message.receipt], delay=0)
        assert [m.body for m in sqs.receive(url, wait=0)] == ["work"]
        assert heartbeat.beats >= 3 and heartbeat.held == 0
    finally:
        heartbeat.stop()


def test_the_interval_must_be_shorter_than_the_visibility_timeout():
    assert heartbeat_interval(load_config(env={}, overrides={"visibility_timeout": 30})) == 10
    assert heartbeat_interval(load_config(env={}, overrides={"visibility_timeout": 30,
                                                             "heartbeat_interval": 5})) == 5
    with pytest.raises(ValueError, match="shorter than the visibility timeout"):
        Heartbeat(None, "url", visibility_timeout=10, interval=10)
