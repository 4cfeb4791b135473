"""Where things live in S3 and how queues are named: one place, shared by client and worker.

Inputs go up in packs: one object ``jobs/<job_id>/pack-<n>`` holds up to ``PACK_MAX_IMAGES`` images'
bytes end to end, and each request names its image's byte range in it (one PUT per pack, not per image).
"""

from __future__ import annotations

import re
import uuid

_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_INPUT_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")  # cosmetic: ".jpg"


def input_key(job_id: str, request_id: str, suffix: str = "") -> str:
    """The uploaded image. The suffix (".jpg") is cosmetic; the worker decides by content."""
    suffix = (suffix or "").lower()
    return f"jobs/{job_id}/{request_id}{suffix if _INPUT_SUFFIX.fullmatch(suffix) else ''}"


def is_input_key(key: str, job_id: str, request_id: str) -> bool:
    """Whether ``key`` is what :func:`input_key` makes for this job and request, with any suffix."""
    own = input_key(job_id, request_id)
    return key == own or (key.startswith(own) and bool(_INPUT_SUFFIX.fullmatch(key[len(own):])))


PACK_MAX_IMAGES = 10  # one SendMessageBatch's worth of requests per input object
PACK_MAX_BYTES = 16 * 1024 * 1024  # a file larger than this is a pack of one
_PACK_NAME = re.compile(r"pack-(0|[1-9][0-9]{0,8})")


def pack_key(job_id: str, n: int) -> str:
    """The job's n-th input pack: several images' bytes end to end, read by range."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 10**9:
        raise ValueError(f"not a pack number: {n!r}")
    return f"{job_prefix(job_id)}pack-{n}"


def is_pack_key(key: str, job_id: str) -> bool:
    """Whether ``key`` is what :func:`pack_key` makes for this job."""
    prefix = job_prefix(job_id)
    return key.startswith(prefix) and bool(_PACK_NAME.fullmatch(key[len(prefix):]))


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def manifest_key(job_id: str) -> str:
    """In the output bucket: the job's request_id -> name map and its skipped files (`imgrec results`)."""
    return f"jobs/{job_id}/manifest.json"


def merged_results_key(job_id: str) -> str:
    """In the output bucket: the finished job's results as one CSV (the `imgrec classify` columns)."""
    return f"jobs/{job_id}/results.csv"


REQUEST_ID = re.compile(r"[0-9a-f]{16}")  # what a client makes: a reader rejects any other shape
# What clients make: shared.job.new_job_id, UTC time and 6 hex digits.
JOB_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
# What readers accept: that, or the 12 hex digits of desktop builds before it took new_job_id, whose jobs
# live on in its history and in the buckets, and whose requests may still be queued. A worker admits no
# other shape (cloud.worker.admission): a job id becomes part of S3 keys.
KNOWN_JOB_ID = re.compile(rf"{JOB_ID.pattern}|[0-9a-f]{{12}}")
BATCH_ID = re.compile(r"[0-9a-f]{32}")
RESULT_BATCH = "batch"  # results/<job_id>/<batch_id>.json: a worker's answers of one batch for one job
RESULT_SINGLE = "single"  # results/<job_id>/<request_id>.json: one result, written before batch objects


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def new_batch_id() -> str:
    return uuid.uuid4().hex


def result_prefix(job_id: str) -> str:
    return f"results/{job_id}/"


def result_batch_key(job_id: str, batch_id: str) -> str:
    """One object per (job, batch): a unique key, so a redelivered request is answered in a second
    object and readers keep the first result per request id (``shared.result_objects``)."""
    if not BATCH_ID.fullmatch(batch_id):
        raise ValueError(f"not a batch id: {batch_id!r}")
    return f"{result_prefix(job_id)}{batch_id}.json"


def result_object(job_id: str, key: str) -> tuple[str, str] | None:
    """What a key under the job's results holds: (RESULT_BATCH, batch_id), (RESULT_SINGLE, request_id)
    for the one-result objects of earlier builds, or None for anything else (ignored by readers)."""
    prefix = result_prefix(job_id)
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    name = key[len(prefix):].removesuffix(".json")
    if BATCH_ID.fullmatch(name):
        return RESULT_BATCH, name
    if REQUEST_ID.fullmatch(name):
        return RESULT_SINGLE, name
    return None


def reply_queue_name(prefix: str, client_id: str) -> str:
    return (prefix + _SAFE.sub("-", client_id))[:80]  # SQS queue names: 80 chars, [A-Za-z0-9_-]


WORKER_STATUS_PREFIX = "workers/"


def worker_status_key(worker_id: str) -> str:
    """In the output bucket: a worker's latest state, so a remote scaler can tell idle from busy."""
    return f"{WORKER_STATUS_PREFIX}{_SAFE.sub('-', worker_id)}.json"


MODEL_PREFIX = "models/"


def model_manifest_key(model: str) -> str:
    """In the output bucket: the published bundle's sidecar (class names, preprocessing, content hash)."""
    return f"{MODEL_PREFIX}{_SAFE.sub('-', model)}/bundle.json"


def model_weights_key(model: str, sha256: str) -> str:
    """The ONNX file, by content: publishing a new version never leaves a half-updated pair."""
    return f"{MODEL_PREFIX}{_SAFE.sub('-', model)}/{sha256}.onnx"
