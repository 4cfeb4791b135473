"""Result objects in the output bucket: what a worker writes and what a reader accepts.

A worker writes the answers of one inference batch that belong to one job as ONE object,
``results/<job_id>/<batch_id>.json`` (``shared.layout.result_batch_key``), holding
``{"format": 2, "results": [Result.to_dict(), ...]}``: one S3 PUT per batch instead of one per image
(PUTs were most of the cost per image). Builds before format 2 wrote one ``Result`` per object at
``results/<job_id>/<request_id>.json``; readers still accept those, so older jobs can be re-collected.

A request redelivered after its batch object was written (the worker died before deleting it) is
answered again in another batch object, so one request id can be in two objects: readers keep the
first result seen per request id (the answers are equal). What is read came over the wire: parsing
validates every result, and keeps only those of the job asked for whose request id has the shape a
client makes (``shared.layout.REQUEST_ID``); the rest are left out with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared import layout
from shared.messages import MessageError, Result, json_object

FORMAT = 2
MAX_RESULTS_PER_OBJECT = 10_000  # far over any batch size; a bigger list is not ours
MAX_OBJECT_BYTES = 32 * 1024 * 1024  # about 3 KB per result at most, read with this cap


def batch_body(results: Sequence[Result]) -> bytes:
    """The object a worker writes for one job's answers in a batch."""
    if not 0 < len(results) <= MAX_RESULTS_PER_OBJECT:
        raise ValueError(f"a result object holds 1 to {MAX_RESULTS_PER_OBJECT} results, not {len(results)}")
    if len({r.job_id for r in results}) != 1:
        raise ValueError("a result object holds the results of one job")
    body = {"format": FORMAT, "results": [r.to_dict() for r in results]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def parse(kind: str, name: str, body: bytes, job_id: str) -> tuple[list[Result], list[str]]:
    """The valid results of the job in one object, and why any others were left out.

    ``kind`` and ``name`` are what ``layout.result_object`` said of its key. Raises MessageError
    when the object as a whole is not a result object."""
    data = json_object(body)
    if kind == layout.RESULT_SINGLE:
        raw = [data]
    elif kind == layout.RESULT_BATCH:
        if data.get("format") != FORMAT:
            raise MessageError(f"unknown result object format {data.get('format')!r} (this build reads {FORMAT})")
        raw = data.get("results")
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_RESULTS_PER_OBJECT:
            raise MessageError(f"'results' must be a list of 1 to {MAX_RESULTS_PER_OBJECT} results")
    else:
        raise MessageError(f"not a result object: {kind!r}")
    results: list[Result] = []
    problems: list[str] = []
    for item in raw:
        try:
            if not isinstance(item, dict):
                raise MessageError("a result is not a JSON object")
            result = Result.from_dict(item)
        except MessageError as exc:
            problems.append(str(exc))
            continue
        if result.job_id != job_id:
            problems.append(f"result {result.request_id!r} is of job {result.job_id!r}")
        elif not layout.REQUEST_ID.fullmatch(result.request_id):
            problems.append(f"request id {result.request_id[:40]!r} is not one a client makes")
        elif kind == layout.RESULT_SINGLE and result.request_id != name:
            problems.append(f"result {result.request_id!r} is under another request's key")
        else:
            results.append(result)
    return results, problems
