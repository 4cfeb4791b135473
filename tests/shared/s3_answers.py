"""S3 answers that moto does not give on its own: a 403 for a read (as S3 answers a reader without
s3:ListBucket that asks for a missing key), and bucket policies whose ``aws:SecureTransport``
condition is evaluated as AWS does."""

from __future__ import annotations

import json

from botocore.awsrequest import AWSResponse

ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_kwargs):
        yield self._data


def deny_reads(client, prefix: str = "") -> list[str]:
    """From now on S3 answers every GetObject through ``client`` for a key under ``prefix`` with 403
    AccessDenied, before the request leaves; returns the keys asked for, in order."""
    asked: list[str] = []

    def note_key(params, context, **_kwargs):
        context["denied_key"] = params["Key"]

    def answer(request, **_kwargs):
        key = request.context["denied_key"]
        if not key.startswith(prefix):
            return None
        asked.append(key)
        return AWSResponse(request.url, 403, {"Content-Type": "application/xml"}, _Body(ACCESS_DENIED))

    client.meta.events.register("before-parameter-build.s3.GetObject", note_key)
    client.meta.events.register("before-send.s3.GetObject", answer)
    return asked


def evaluate_secure_transport(monkeypatch, secure: bool = True) -> None:
    """moto 5.2 takes a ``Bool`` condition in a bucket policy as always met, and an unmet condition as a
    denial, so a TLS-only policy denies every object request. Here statements whose conditions do not
    hold for a request with ``aws:SecureTransport`` = ``secure`` are left out, as AWS does."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    context = {"aws:securetransport": "true" if secure else "false"}

    def holds(condition: dict) -> bool:
        for operator, tests in condition.items():
            if operator != "Bool":
                return True  # moto's own answer for what it does not evaluate
            for key, wanted in tests.items():
                wanted = wanted if isinstance(wanted, list) else [wanted]
                if context.get(key.lower()) not in [str(w).lower() for w in wanted]:
                    return False
        return True

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy)
        statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
        policy["Statement"] = [{k: v for k, v in s.items() if k != "Condition"} for s in statements
                               if holds(s.get("Condition", {}))]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    monkeypatch.setattr(FakeBucket, "get_permission", get_permission)
