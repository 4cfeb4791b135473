"""Stand-in workers for the EC2 instances of a mock account, stepped by the test (no threads, no model).

Each ``step(now)`` plays one tick of every worker instance that EC2 (the truth, not the scaler's view)
shows running, as the boot script and worker would on a real instance:

* for ``boot_steps`` steps after it comes up it writes nothing (booting), then reports ``ready``;
* it deletes the batch it took on the previous step (answered), then receives up to ``batch``
  messages and reports ``busy`` (or ``idle`` with nothing received), with its measured rate once it
  has answered something;
* an instance for which ``broken(instance)`` holds powers itself off as its boot ends, without a word
  (no credentials, a bad setting): the crash loop the scaler must not feed;
* ``never_up(instance)``: the worker never starts, and the instance runs on, silent;
* ``interrupt(id, faults)``: a spot interruption. The worker drains on the notice (gives its batch
  back, reports ``stopped``) and EC2 terminates the instance, saying so in its state reason.

Status objects carry the test's clock (``now``), which the fleet under test shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.layout import worker_status_key
from shared.s3 import S3Service
from shared.sqs import SQSService


@dataclass
class _Life:
    steps: int = 0  # steps seen running since it last came up
    since: float = 0.0
    state: str = ""
    batch: list = field(default_factory=list)
    answered: int = 0


class InstanceWorkers:
    def __init__(self, cfg, ec2, *, boot_steps: int = 2, batch: int = 10, rate: float = 0.5,
                 broken: Callable[[dict], bool] = lambda inst: False,
                 never_up: Callable[[dict], bool] = lambda inst: False):
        self.cfg, self.ec2 = cfg, ec2
        self.boot_steps, self.batch, self.rate = boot_steps, batch, rate
        self.broken, self.never_up = broken, never_up
        self.s3, self.sqs = S3Service(cfg), SQSService(cfg)
        self.url = self.sqs.url(cfg.request_queue)
        self.lives: dict[str, _Life] = {}
        self.answered = 0
        self.powered_off: list[str] = []  # instances that powered themselves off, in order

    def instances(self, states=("pending", "running")) -> list[dict]:
        filters = [{"Name": "tag:imgrec:queue", "Values": [self.cfg.request_queue]},
                   {"Name": "instance-state-name", "Values": list(states)}]
        return [i for r in self.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]

    def step(self, now: float) -> None:
        running = {i["InstanceId"]: i for i in self.instances(("running",))}
        for ident in list(self.lives):
            if ident not in running:  # stopped or gone: its next start is a new boot
                del self.lives[ident]
        for ident, inst in running.items():
            life = self.lives.setdefault(ident, _Life())
            life.steps += 1
            if life.steps <= self.boot_steps or self.never_up(inst):
                continue
            if self.broken(inst):
                self.ec2.stop_instances(InstanceIds=[ident])  # the boot script's poweroff
                self.powered_off.append(ident)
                del self.lives[ident]
                continue
            if life.batch:
                self.sqs.delete_batch(self.url, [m.receipt for m in life.batch])
                life.answered += len(life.batch)
                self.answered += len(life.batch)
            life.batch = self.sqs.receive(self.url, max_messages=self.batch, wait=0)
            self._report(ident, life, "busy" if life.batch else ("idle" if life.answered else "ready"), now)

    def interrupt(self, ident: str, faults, now: float) -> None:
        life = self.lives.pop(ident, None)
        if life is not None:
            if life.batch:
                self.sqs.change_visibility_batch(self.url, [m.receipt for m in life.batch], 0)
            self._report(ident, life, "stopped", now)
        self.ec2.terminate_instances(InstanceIds=[ident])
        faults.reasons[ident] = {"Code": "Server.SpotInstanceTermination",
                                 "Message": "Server.SpotInstanceTermination: Spot instance termination"}

    def _report(self, ident: str, life: _Life, state: str, now: float) -> None:
        if state != life.state:
            life.state, life.since = state, now
        self.s3.put_json(self.cfg.output_bucket, worker_status_key(ident),
                         {"worker_id": ident, "state": state, "ts": now, "since": life.since,
                          "processed": life.answered, "images_per_s": self.rate if life.answered else None})
