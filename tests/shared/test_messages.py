"""The wire format: requests stay under 1 KB; parsing rejects what it cannot trust, with a reason."""

import json

import pytest

from shared.config import MAX_MESSAGE_BYTES
from shared.messages import MessageError, Request, Result


def _request(**kw):
    base = dict(request_id="r1", job_id="j1", bucket="in", key="jobs/j1/r1.jpg", name="cats/tom.jpg",
                reply_queue="http://127.0.0.1:5000/123/imgrec-replies-c1", submitted=1700000000.5)
    base.update(kw)
    return Request(**base)


def test_request_round_trip():
    req = _request()
    assert Request.from_json(req.to_json()) == req
    assert len(req.to_json().encode()) < MAX_MESSAGE_BYTES


def test_a_very_long_name_is_shortened_to_fit_under_1_kb():
    req = _request(name="deep/" * 400 + "photo.jpg")
    body = req.to_json()
    assert len(body.encode()) <= MAX_MESSAGE_BYTES
    parsed = Request.from_json(body)
    assert parsed.name.endswith("photo.jpg") and parsed.name.startswith("…")
    assert parsed.request_id == "r1"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"v": 3, "request_id": "r"}), "unknown message version 3"),
        (json.dumps({"request_id": "r"}), "unknown message version None"),
        (json.dumps({"v": 1, "request_id": "r", "job_id": "j", "bucket": "b", "key": "k", "name": "n",
                     "submitted": 1.0}), "missing field 'reply_queue'"),
        (json.dumps({"v": 1, "request_id": 5, "job_id": "j", "bucket": "b", "key": "k", "name": "n",
                     "reply_queue": "q", "submitted": 1.0}), "field 'request_id' has the wrong type"),
    ],
)
def test_malformed_requests_are_rejected_with_a_reason(body, reason):
    with pytest.raises(MessageError, match=reason):
        Request.from_json(body)


def test_result_round_trip_with_top5_and_error():
    ok = Result(request_id="r1", job_id="j1", name="a.jpg", label="tabby, tabby cat", score=0.81,
                top5=(("tabby, tabby cat", 0.81), ("tiger cat", 0.1)), model="efficientnet-lite0", worker_id="w1",
                timings={"inference_s": 0.02})
    assert Result.from_json(ok.to_json()) == ok and ok.ok
    bad = Result(request_id="r2", job_id="j1", name="b.jpg", error="not an image")
    assert Result.from_json(bad.to_json()) == bad and not bad.ok


def test_a_result_needs_a_label_or_an_error():
    with pytest.raises(MessageError, match="label or an error"):
        Result.from_json(json.dumps({"v": 1, "request_id": "r", "job_id": "j", "name": "n"}))
    with pytest.raises(MessageError, match="top5"):
        Result.from_json(json.dumps({"v": 1, "request_id": "r", "job_id": "j", "name": "n", "label": "x",
                                     "top5": [["x"]]}))
