"""One codec for what workers say about themselves: status lines and status objects read the same way,
and whatever is not a status (a stray print, a foreign or broken object) is skipped, never an error."""

from __future__ import annotations

import json

import pytest

from shared import layout
from shared.s3 import S3Service
from shared.worker_status import (
    BUSY,
    IDLE,
    STALE_SECONDS,
    STOPPED,
    parse_status_line,
    parse_status_object,
    read_statuses,
    status_line,
    status_object,
)


def test_a_line_is_read_back_as_written_and_anything_else_is_none():
    status = parse_status_line(status_line(BUSY, "local-1", ts=1000.0, images_per_s=41.7))
    assert (status.worker_id, status.state, status.ts, status.since, status.images_per_s) == (
        "local-1", BUSY, 1000.0, 1000.0, 41.7)
    for stray in ("", "loading model...", "[1, 2]", json.dumps({"event": "state", "state": "dancing", "ts": 1}),
                  json.dumps({"event": "state", "state": BUSY})):
        assert parse_status_line(stray) is None


def test_a_line_or_object_without_a_usable_rate_has_none():
    old = json.dumps({"event": "state", "state": "busy", "worker_id": "w1", "ts": 1.0})  # an older worker
    assert parse_status_line(old).images_per_s is None
    for bogus in (0, -3, "fast", True, float("inf"), None):
        assert parse_status_object({"state": IDLE, "ts": 1.0, "images_per_s": bogus}).images_per_s is None
    assert parse_status_object({"state": IDLE, "ts": 1.0, "images_per_s": 12}).images_per_s == 12.0


def test_an_object_is_read_back_as_written_and_is_live_until_stopped_or_stale():
    written = status_object("i-1", IDLE, since=900.0, images_per_s=40.0, processed=7)
    status = parse_status_object(written)
    assert (status.worker_id, status.state, status.since, status.images_per_s) == ("i-1", IDLE, 900.0, 40.0)
    assert status.data["processed"] == 7
    assert status.live(status.ts + STALE_SECONDS) and not status.live(status.ts + STALE_SECONDS + 1)
    assert not parse_status_object({**written, "state": STOPPED}).live(status.ts)
    # No "since": the time it was written; no worker id in it: the one it was read for.
    assert parse_status_object({"state": BUSY, "ts": 5.0}, "i-2").since == 5.0
    assert parse_status_object({"state": BUSY, "ts": 5.0}, "i-2").worker_id == "i-2"
    for broken in (None, [], {}, {"state": BUSY}, {"state": BUSY, "ts": "yesterday"}, {"state": 3, "ts": 1.0}):
        assert parse_status_object(broken) is None


def test_status_objects_are_read_by_id_or_all_of_them_skipping_what_is_not_a_status(cfg):
    s3 = S3Service(cfg)
    s3.put_json(cfg.output_bucket, layout.worker_status_key("i-1"), status_object("i-1", IDLE, 1.0, None))
    s3.put_json(cfg.output_bucket, layout.worker_status_key("i-2"), status_object("i-2", BUSY, 1.0, 9.5))
    s3.put_json(cfg.output_bucket, layout.worker_status_key("foreign"), {"hello": "world"})
    s3.put_bytes(cfg.output_bucket, layout.worker_status_key("broken"), b"{not json")

    everyone = read_statuses(s3, cfg.output_bucket)
    assert sorted(everyone) == ["i-1", "i-2"] and everyone["i-2"].images_per_s == 9.5
    asked = read_statuses(s3, cfg.output_bucket, ["i-2", "never-reported", "broken"])
    assert list(asked) == ["i-2"] and asked["i-2"].state == BUSY
    assert read_statuses(s3, cfg.output_bucket, []) == {}


@pytest.mark.parametrize("state", [IDLE, STOPPED])
def test_a_stale_or_stopped_worker_is_not_live(state):
    status = parse_status_object({"state": state, "ts": 1000.0})
    assert status.live(1000.0) == (state != STOPPED)
    assert not status.live(1000.0 + STALE_SECONDS + 0.1)
