"""Resuming a job whose client stopped (killed, Ctrl-C, a lost connection): from its local journal
(``shared.journal``) and the results already in the output bucket, what is done, what is still in the
queue, what must be sent again and what was never sent.

    plan = plan_resume(previous, items, found)     # pure: unit-tested without AWS
    client.submit(..., resume=plan)                # the job client does the rest

Per file named now, matched to the earlier run by path, size and modification time:
- a result in the output bucket: done, not redone;
- sent (SQS accepted it): still queued or in progress, awaited, not sent again;
- "sending" without the confirmation (the client died during SendMessageBatch): sent again, against the
  pack it already has in S3 (the same request id: a second answer is dropped by request id);
- never sent: uploaded and sent as new.
A file that changed or is new since gets a new request. Packs none of whose requests was (maybe) sent
are deleted before anything is uploaded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared import layout
from shared.journal import Previous
from shared.messages import Result
from shared.scan import Item, stamp


@dataclass
class ResumePlan:
    job_id: str
    old_client_id: str
    request_ids: dict[Path, str] = field(default_factory=dict)  # file -> its request in the earlier run
    done: dict[str, Result] = field(default_factory=dict)  # request id -> its result, already in S3
    in_flight: set[str] = field(default_factory=set)  # sent, no result yet: awaited
    resend: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # rid -> (pack, offset, length)
    stale_packs: list[str] = field(default_factory=list)  # never sent: deleted
    next_pack: int = 0  # new packs are numbered from here

    def summary(self, total: int) -> str:
        fresh = total - len(self.done) - len(self.in_flight) - len(self.resend)
        return (f"{len(self.done)} already classified, {len(self.in_flight)} still queued or in progress, "
                f"{len(self.resend) + fresh} to send")


def plan_resume(previous: Previous, items: Sequence[Item], found: Sequence[Result]) -> ResumePlan:
    """The plan for the files named now, given the earlier run's journal and the job's results in S3."""
    plan = ResumePlan(job_id=previous.job_id, old_client_id=previous.client_id)
    results = {r.request_id: r for r in found}
    placed = {rid: (key, offset, length)
              for key, members in previous.packs.items() for rid, offset, length in members}
    for item in items:
        entry = previous.files.get(str(item.path))
        if entry is None or stamp(item.path) != (entry.size, entry.mtime_ns):
            continue  # new or changed since: a new request
        rid = entry.request_id
        plan.request_ids[item.path] = rid
        if rid in results:
            plan.done[rid] = results[rid]
        elif rid in previous.sent:
            plan.in_flight.add(rid)
        elif rid in previous.sending and rid in placed:
            plan.resend[rid] = placed[rid]
    maybe_sent = previous.sending | previous.sent
    plan.stale_packs = sorted(key for key, members in previous.packs.items()
                              if not any(rid in maybe_sent for rid, _, _ in members))
    numbers = [_pack_number(key, previous.job_id) for key in previous.packs]
    plan.next_pack = max([n + 1 for n in numbers if n is not None], default=0)
    return plan


def _pack_number(key: str, job_id: str) -> int | None:
    if not layout.is_pack_key(key, job_id):
        return None
    return int(key.rsplit("-", 1)[1])
