"""Reply queues of dead clients are removed: expiry tags, renewal, pruning (against moto's mock_aws)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

import shared.sqs
from shared import reply_queues
from shared.config import load_config
from shared.provision import provision
from shared.reply_queues import EXPIRES_TAG, REPLY_RETENTION_SECONDS, TTL_SECONDS, Renewer
from shared.sqs import SQSService

PREFIX = "imgrec-replies-"


@pytest.fixture
def cfg():
    with mock_aws():
        cfg = load_config(env={})
        provision(cfg)
        yield cfg


@pytest.fixture
def sqs(cfg):
    return SQSService(cfg)


def _names(sqs: SQSService, prefix: str = "") -> set[str]:
    return {url.rsplit("/", 1)[-1] for url in sqs.queue_urls(prefix)}


def test_a_reply_queue_keeps_replies_a_day_and_expires_after_its_ttl(sqs):
    url = reply_queues.create(sqs, PREFIX + "a", now=1_000_000)
    assert sqs.tags(url) == {EXPIRES_TAG: str(1_000_000 + TTL_SECONDS)}
    attributes = sqs.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == str(REPLY_RETENTION_SECONDS)
    assert attributes["SqsManagedSseEnabled"] == "true"


def test_an_expired_queue_is_pruned_and_a_renewed_one_is_kept(sqs):
    t0 = time.time()
    reply_queues.create(sqs, PREFIX + "killed", now=t0)
    live = reply_queues.create(sqs, PREFIX + "live", now=t0)
    reply_queues.renew(sqs, live, now=t0 + TTL_SECONDS * 0.75)  # what the live client's Renewer does

    assert reply_queues.prune(sqs, PREFIX, now=t0 + TTL_SECONDS - 1) == []  # not yet expired
    assert reply_queues.prune(sqs, PREFIX, now=t0 + TTL_SECONDS + 1) == [PREFIX + "killed"]
    assert _names(sqs, PREFIX) == {PREFIX + "live"}
    assert reply_queues.prune(sqs, PREFIX, now=t0 + TTL_SECONDS * 1.75 + 1) == [PREFIX + "live"]
    assert _names(sqs, PREFIX) == set()


def test_a_queue_without_the_prefix_is_never_touched(cfg, sqs):
    t0 = time.time()
    reply_queues.create(sqs, "someone-elses-" + PREFIX, now=t0 - 10 * TTL_SECONDS)  # tagged and expired
    sqs.create_queue("unrelated")
    reply_queues.create(sqs, PREFIX + "dead", now=t0 - 10 * TTL_SECONDS)
    before = _names(sqs)

    far_future = t0 + 100 * REPLY_RETENTION_SECONDS
    assert reply_queues.prune(sqs, PREFIX, now=far_future) == [PREFIX + "dead"]
    assert _names(sqs) == before - {PREFIX + "dead"}
    # A prefix that also matches the request and dead-letter queues ("imgrec-"): prune_for keeps them.
    assert {cfg.request_queue, cfg.dead_letter_queue} <= before
    reply_queues.create(sqs, PREFIX + "dead-too", now=t0 - 10 * TTL_SECONDS)
    assert reply_queues.prune_for(cfg.replace(reply_queue_prefix="imgrec-"), sqs, now=far_future) == [
        PREFIX + "dead-too"]
    assert _names(sqs) == before - {PREFIX + "dead"}


def test_an_untagged_queue_of_an_older_build_goes_once_older_than_the_retention(sqs):
    url = sqs.create_queue(PREFIX + "old-build", {"MessageRetentionPeriod": str(REPLY_RETENTION_SECONDS)})
    created = sqs.created(url)
    assert reply_queues.prune(sqs, PREFIX, now=created + REPLY_RETENTION_SECONDS - 60) == []  # young: kept
    assert _names(sqs, PREFIX) == {PREFIX + "old-build"}
    assert reply_queues.prune(sqs, PREFIX, now=created + REPLY_RETENTION_SECONDS + 60) == [PREFIX + "old-build"]
    assert _names(sqs, PREFIX) == set()


def test_an_unreadable_tag_counts_as_no_tag(sqs):
    url = reply_queues.create(sqs, PREFIX + "odd")
    sqs.tag(url, {EXPIRES_TAG: "soon"})
    created = sqs.created(url)
    assert reply_queues.prune(sqs, PREFIX, now=created + TTL_SECONDS * 2) == []
    assert reply_queues.prune(sqs, PREFIX, now=created + REPLY_RETENTION_SECONDS + 60) == [PREFIX + "odd"]


def test_a_queue_that_vanishes_during_the_prune_is_skipped(sqs, monkeypatch):
    t0 = time.time()
    urls = [reply_queues.create(sqs, PREFIX + name, now=t0 - 2 * TTL_SECONDS) for name in ("closing", "dead")]
    tags = sqs.tags

    def closed_meanwhile(url):
        if url == urls[0]:
            sqs.client.delete_queue(QueueUrl=url)  # its client closed after the listing
        return tags(url)

    monkeypatch.setattr(sqs, "tags", closed_meanwhile)
    assert reply_queues.prune(sqs, PREFIX, now=t0) == [PREFIX + "dead"]


def test_prune_reads_every_page_of_the_listing(sqs, monkeypatch):
    monkeypatch.setattr(shared.sqs, "MAX_LIST_QUEUES", 2)
    t0 = time.time()
    names = [f"{PREFIX}{i}" for i in range(5)]
    for name in names:
        reply_queues.create(sqs, name, now=t0 - 2 * TTL_SECONDS)
    assert sorted(reply_queues.prune(sqs, PREFIX, now=t0)) == names


def test_another_error_ends_the_prune(sqs, monkeypatch):
    reply_queues.create(sqs, PREFIX + "a", now=0)

    def denied(url):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListQueueTags")

    monkeypatch.setattr(sqs, "tags", denied)
    with pytest.raises(ClientError, match="AccessDenied"):
        reply_queues.prune(sqs, PREFIX)
    with pytest.raises(ValueError, match="prefix"):
        reply_queues.prune(sqs, "")  # would consider every queue of the account


def test_the_renewer_keeps_a_live_clients_queue_from_expiring(sqs):
    t0 = time.time()
    url = reply_queues.create(sqs, PREFIX + "live", now=t0 - TTL_SECONDS + 5)  # about to expire
    renewer = Renewer(sqs, PREFIX + "live", url, every=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while float(sqs.tags(url)[EXPIRES_TAG]) < t0 + TTL_SECONDS - 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reply_queues.prune(sqs, PREFIX, now=t0 + 60) == []
    finally:
        renewer.stop()
    assert not renewer._thread.is_alive()
    assert float(sqs.tags(url)[EXPIRES_TAG]) >= t0 + TTL_SECONDS - 5


def test_a_queue_pruned_while_its_client_slept_is_created_again_but_not_after_close(sqs):
    url = reply_queues.create(sqs, PREFIX + "asleep", now=0)
    assert reply_queues.prune(sqs, PREFIX) == [PREFIX + "asleep"]
    renewer = Renewer(sqs, PREFIX + "asleep", url)
    renewer.renew_once()  # the client wakes up
    assert _names(sqs, PREFIX) == {PREFIX + "asleep"}
    assert sqs.url(PREFIX + "asleep") == url and float(sqs.tags(url)[EXPIRES_TAG]) > time.time()

    renewer.stop()  # the client closes, then deletes its queue; a renewal in flight must not bring it back
    sqs.delete_queue(url)
    renewer.renew_once()
    assert _names(sqs, PREFIX) == set()


def test_a_renewer_must_renew_within_its_ttl(sqs):
    with pytest.raises(ValueError, match="more often"):
        Renewer(sqs, PREFIX + "x", "url", ttl_seconds=60, every=60)
