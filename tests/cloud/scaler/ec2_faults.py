"""A fault layer for one boto3 EC2 client: what real EC2 does and moto does not, through botocore's event hooks.

moto is consistent, never runs out of capacity and never fails a call it understands. Real EC2:

* **lags**: an instance just launched is missing from DescribeInstances for a while, and one just
  started still shows as stopped (``hide_for``: the number of DescribeInstances calls that do not
  see each launch or start yet);
* **runs out of capacity**: ``refuse(operation, params)`` returns an error code (for example
  ``InsufficientInstanceCapacity``) to answer a call with instead of making it;
* **fails calls**: ``fail_stop`` StopInstances calls are answered ``fail_code``;
* **says why an instance went**: ``reasons[id]`` is the StateReason DescribeInstances reports for it (a
  spot interruption is ``Server.SpotInstanceTermination``; moto only knows a user's stop);
* **shows a console**: ``console`` is the text GetConsoleOutput returns (moto's is a stock kernel log).

Only the hooked client sees the faults; tests look at the truth with a client of their own. ``calls``
counts the calls the scaler made, by operation, and ``starts`` lists ``(time, operation, instance id)``
for every instance launched or started, by the ``clock`` given.
"""

from __future__ import annotations

import base64
import collections
import time
from collections.abc import Callable

from botocore.awsrequest import AWSResponse

CAPACITY = "InsufficientInstanceCapacity"


class Ec2Faults:
    def __init__(self, client, *, hide_for: int = 0, refuse: Callable[[str, dict], str | None] | None = None,
                 fail_stop: int = 0, fail_code: str = "RequestLimitExceeded", console: str | None = None,
                 clock: Callable[[], float] = time.time):
        self.clock = clock
        self.hide_for = hide_for
        self.refuse = refuse or (lambda operation, params: None)
        self.fail_stop = fail_stop
        self.fail_code = fail_code
        self.console = console
        self.reasons: dict[str, dict] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.starts: list[tuple[float, str, str]] = []
        self.hidden_seen = 0  # instances a DescribeInstances answer left out or showed stopped
        self._hidden: dict[str, list] = {}  # instance id -> [describe calls left, "launched" | "started"]
        events = client.meta.events
        events.register("before-parameter-build.ec2", self._keep_params)
        events.register("before-call.ec2", self._before)
        events.register("after-call.ec2", self._after)

    # --- hooks -------------------------------------------------------------------------------
    @staticmethod
    def _keep_params(params, model, context, **_):
        context["fault_params"] = dict(params)

    def _before(self, model, context, **_):
        operation, params = model.name, context.get("fault_params", {})
        self.calls[operation] += 1
        code = self.refuse(operation, params)
        if operation == "StopInstances" and self.fail_stop > 0:
            self.fail_stop -= 1
            code = self.fail_code
        if code:
            return _error(code, f"{code} (fault layer) for {operation}")
        if operation == "GetConsoleOutput" and self.console is not None:
            output = base64.b64encode(self.console.encode()).decode()
            return AWSResponse("", 200, {}, None), {"InstanceId": params.get("InstanceId"), "Output": output}
        return None

    def _after(self, model, parsed, http_response, context, **_):
        if http_response.status_code >= 300:
            return
        operation = model.name
        if operation == "RunInstances":
            ids = tuple(i["InstanceId"] for i in parsed.get("Instances", []))
            self._note_start(operation, ids, "launched")
        elif operation == "StartInstances":
            self._note_start(operation, tuple(context.get("fault_params", {}).get("InstanceIds", [])), "started")
        elif operation == "DescribeInstances":
            self._lag(parsed)

    def _note_start(self, operation: str, ids: tuple[str, ...], how: str) -> None:
        self.starts.extend((self.clock(), operation, ident) for ident in ids)
        if self.hide_for:
            for ident in ids:
                self._hidden[ident] = [self.hide_for, how]

    def _lag(self, parsed: dict) -> None:
        for reservation in parsed.get("Reservations", []):
            kept = []
            for inst in reservation["Instances"]:
                ident = inst["InstanceId"]
                if ident in self.reasons:
                    inst["StateReason"] = dict(self.reasons[ident])
                hidden = self._hidden.get(ident)
                if hidden is None:
                    kept.append(inst)
                    continue
                self.hidden_seen += 1
                if hidden[1] == "started":
                    inst["State"] = {"Code": 80, "Name": "stopped"}
                    kept.append(inst)
            reservation["Instances"] = kept
        parsed["Reservations"] = [r for r in parsed.get("Reservations", []) if r["Instances"]]
        for ident in list(self._hidden):
            self._hidden[ident][0] -= 1
            if self._hidden[ident][0] <= 0:
                del self._hidden[ident]

    # --- what the scaler did -----------------------------------------------------------------
    def started(self, ident: str | None = None) -> list[float]:
        """When each launch and start that went through happened, of one instance or of all."""
        return [at for at, _, i in self.starts if ident is None or i == ident]


def _error(code: str, message: str):
    return AWSResponse("", 400, {}, None), {"Error": {"Code": code, "Message": message},
                                            "ResponseMetadata": {"HTTPStatusCode": 400}}


def refuse_when(operation: str, code: str = CAPACITY, **match) -> Callable[[str, dict], str | None]:
    """A ``refuse`` that answers ``operation`` with ``code`` when every ``match`` item holds of its parameters
    (a value, or a predicate of the value)."""

    def refuse(op: str, params: dict) -> str | None:
        if op != operation:
            return None
        for key, want in match.items():
            value = params.get(key)
            if not (want(value) if callable(want) else value == want):
                return None
        return code

    return refuse


def any_of(*refusals: Callable[[str, dict], str | None]) -> Callable[[str, dict], str | None]:
    def refuse(op: str, params: dict) -> str | None:
        return next((code for r in refusals if (code := r(op, params))), None)

    return refuse
