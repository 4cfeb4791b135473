"""A request's optional byte range (offset, length): validated, and absent from bodies without one."""

from __future__ import annotations

import json

import pytest

from shared.messages import MessageError, Request

FIELDS = dict(request_id="0123456789abcdef", job_id="20240101-120000-abcdef", bucket="b",
              key="jobs/20240101-120000-abcdef/pack-0", name="a.jpg", reply_queue="q", submitted=1.0)


def body(**changes) -> str:
    ranged = "offset" in changes or "length" in changes
    return json.dumps({"v": 2 if ranged else 1, **FIELDS, **changes})


def test_a_range_round_trips():
    request = Request(**FIELDS, offset=120, length=4000)
    again = Request.from_json(request.to_json())
    assert (again.offset, again.length, again.byte_range) == (120, 4000, (120, 4000))


def test_a_ranged_request_is_version_2_so_that_earlier_workers_refuse_it():
    """A worker from before packs would read the whole pack and label its first image: it must not
    understand the body at all (it refuses unknown versions to the dead-letter queue)."""
    assert json.loads(Request(**FIELDS, offset=0, length=10).to_json())["v"] == 2
    with pytest.raises(MessageError, match="needs byte range"):
        Request.from_json(json.dumps({"v": 2, **FIELDS}))
    with pytest.raises(MessageError, match="has no byte range"):
        Request.from_json(json.dumps({"v": 1, **FIELDS, "offset": 0, "length": 10}))


def test_a_request_without_a_range_is_the_body_earlier_builds_wrote_and_read():
    request = Request(**FIELDS)
    assert request.byte_range is None
    assert json.loads(request.to_json()) == {"v": 1, **FIELDS}
    assert Request.from_json(body()).byte_range is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"offset": -1, "length": 10}, "'offset' must be at least 0"),
    ({"offset": 0, "length": 0}, "'length' must be at least 1"),
    ({"offset": 0, "length": 2.5}, "'length' has the wrong type"),
    ({"offset": "0", "length": 10}, "'offset' has the wrong type"),
    ({"offset": True, "length": 10}, "'offset' has the wrong type"),
    ({"offset": 5}, "come together"),
    ({"length": 5}, "come together"),
])
def test_a_malformed_range_is_refused_with_the_reason(changes, reason):
    with pytest.raises(MessageError, match=reason):
        Request.from_json(body(**changes))
