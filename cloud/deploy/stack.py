"""The stack: its template, its state and outputs, and waiting for CloudFormation with progress.

CloudFormation reports progress as stack events (newest first); :func:`wait` prints each new one, oldest
first, until the stack reaches a final state, and tells success from failure (a rollback is a failure
even though its status ends in ``_COMPLETE``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from botocore.exceptions import ClientError

DEFAULT_STACK_NAME = "imgrec"
TEMPLATE_FILE = "stack.yaml"
POLL_SECONDS = 5.0  # between two looks at a stack in progress (CloudFormation takes minutes on AWS)
WAIT_LIMIT_SECONDS = 60 * 60  # longer than CloudFormation's own resource timeouts for this template

SUCCEEDED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE")
FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_FAILED",
          "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
          "IMPORT_ROLLBACK_FAILED")
# A stack left by a failed first creation holds nothing and can only be deleted.
EMPTY_AFTER_FAILED_CREATE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")


class StackError(RuntimeError):
    """CloudFormation refused or rolled back; the message says why, from the stack's events."""


def template_body() -> str:
    """The template, as shipped with the package."""
    return resources.files(__package__).joinpath(TEMPLATE_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Stack:
    name: str
    id: str
    status: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @classmethod
    def from_description(cls, data: dict) -> Stack:
        return cls(
            name=data["StackName"], id=data["StackId"], status=data["StackStatus"],
            outputs={o["OutputKey"]: o.get("OutputValue", "") for o in data.get("Outputs", [])},
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in data.get("Parameters", [])},
        )


def describe(cfn, name: str) -> Stack | None:
    """The stack named (or with the id) ``name``; None when there is none (or it was deleted)."""
    try:
        found = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise
    if not found or found[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return Stack.from_description(found[0])


def _event_line(event: dict) -> str:
    stamp = event["Timestamp"]
    when = stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp)
    reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return f"  {when}  {event['ResourceStatus']:<20} {event.get('ResourceType', ''):<34} " \
           f"{event['LogicalResourceId']}{reason}"


class Events:
    """The stack's events not shown yet, oldest first."""

    def __init__(self, cfn, stack_id: str):
        self.cfn, self.stack_id = cfn, stack_id
        self._seen: set[str] = set()
        self.failures: list[str] = []  # "LogicalId: reason" of resources that failed, for the error

    def new(self) -> list[dict]:
        fresh: list[dict] = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=self.stack_id):
            events = [e for e in page["StackEvents"] if e["EventId"] not in self._seen]
            fresh.extend(events)
            if len(events) < len(page["StackEvents"]):
                break  # the rest of the history was shown before
        fresh.reverse()
        self._seen.update(e["EventId"] for e in fresh)
        for event in fresh:
            if event["ResourceStatus"].endswith("FAILED") and event.get("ResourceStatusReason"):
                self.failures.append(f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}")
        return fresh

    def skip(self) -> Events:
        """Counts the events so far as shown: the next ones are those of the operation about to start."""
        self.new()
        self.failures.clear()
        return self


def wait(cfn, stack_id: str, say: Callable[[str], None], *, events: Events | None = None,
         poll: float = POLL_SECONDS, limit: float = WAIT_LIMIT_SECONDS,
         sleep: Callable[[float], None] = time.sleep) -> str:
    """Waits until the stack is in a final state, printing its events as they come; returns the status.
    Raises StackError when it failed or rolled back, naming the resources that failed and why."""
    events = events or Events(cfn, stack_id)
    deadline = time.monotonic() + limit
    while True:
        for event in events.new():
            say(_event_line(event))
        found = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = found["StackStatus"]
        if status in SUCCEEDED:
            return status
        if status in FAILED:
            reasons = "; ".join(events.failures) or found.get("StackStatusReason") or "no reason given"
            raise StackError(f"stack {found['StackName']}: {status}: {reasons}")
        if time.monotonic() > deadline:
            raise StackError(f"stack {found['StackName']} is still {status} after {limit / 60:.0f} minutes: "
                             "see its events in the CloudFormation console")
        sleep(poll)
