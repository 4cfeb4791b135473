"""Where things live in S3 and how queues are named: one place, shared by client and worker."""

from __future__ import annotations

import re

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def input_key(job_id: str, request_id: str, suffix: str = "") -> str:
    """The uploaded image. The suffix (".jpg") is cosmetic; the worker decides by content."""
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
    return f"jobs/{job_id}/{request_id}{suffix}"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def manifest_key(job_id: str) -> str:
    """In the output bucket: the job's request_id -> name map and its skipped files (`imgrec results`)."""
    return f"jobs/{job_id}/manifest.json"


def result_key(job_id: str, request_id: str) -> str:
    """Deterministic: a redelivered request overwrites its result, never duplicates it."""
    return f"results/{job_id}/{request_id}.json"


def result_prefix(job_id: str) -> str:
    return f"results/{job_id}/"


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
