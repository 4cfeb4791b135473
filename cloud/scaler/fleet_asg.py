"""The Auto Scaling fleet: the scaler sets the desired capacity of an existing group; AWS launches.

For users who outgrow one controller's launches, or who want AWS's own warm pools, health checks
and instance refresh. The group must launch the worker image (``imgrec ami bake``) with the user
data of ``imgrec ami user-data``. Workers report idle through their status objects, exactly as on
the EC2 fleet (``heartbeats.py``).

Scale-in protection keeps busy instances: before each change every instance that is not known
idle is protected and every idle one is not, so when the desired capacity drops, the group can
only pick idle instances to terminate. The desired capacity is never set below the protected
count (the group would wait on them anyway) and is kept within the group's MinSize..MaxSize.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cloud.scaler import heartbeats
from cloud.scaler.fleet import IDLE_STATES, FleetState, ScaleResult, Worker
from shared import aws
from shared.config import Config, ConfigError
from shared.s3 import S3Service

MAX_PROTECTION_BATCH = 50  # SetInstanceProtection takes at most 50 instance ids per call


class AsgFleet:
    kind = "asg"

    def __init__(self, cfg: Config, *, max_workers: int | None = None, autoscaling=None,
                 s3: S3Service | None = None, clock: Callable[[], float] = time.time):
        if not cfg.asg_name:
            raise ConfigError(f"asg_name is not set (from {cfg.source_of('asg_name')}): the asg fleet drives "
                              "an existing Auto Scaling group by name")
        self.cfg = cfg
        self.name = cfg.asg_name
        self.max_workers = cfg.max_workers if max_workers is None else max_workers
        self.autoscaling = autoscaling or aws.client(cfg, "autoscaling")
        self.s3 = s3 or S3Service(cfg)
        self.changed = threading.Event()
        self._clock = clock
        self._first_seen: dict[str, float] = {}  # instance id -> when this fleet first saw it in service

    def group(self) -> dict:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])["AutoScalingGroups"]
        if not groups:
            raise ConfigError(f"asg_name = {self.name!r}: no such Auto Scaling group in {self.cfg.region}")
        return groups[0]

    def observe(self) -> FleetState:
        return self._observe(self.group())

    def _observe(self, group: dict) -> FleetState:
        now = self._clock()
        members = [i for i in group.get("Instances", []) if not i["LifecycleState"].startswith("Warmed")]
        in_service = [i["InstanceId"] for i in members if i["LifecycleState"] == "InService"]
        reports = heartbeats.read_reports(self.s3, self.cfg.output_bucket, in_service)
        workers: list[Worker] = []
        for inst in members:
            ident, life = inst["InstanceId"], inst["LifecycleState"]
            self._first_seen.setdefault(ident, now)
            if life == "InService":
                report = reports.get(ident)
                # The group does not say when an instance started; a report written since this fleet
                # first saw it, or any fresh one, will do.
                started = min(self._first_seen[ident], report.ts if report else now)
                workers.append(heartbeats.classify(ident, started, report, now))
            elif life.startswith("Pending"):
                workers.append(Worker(ident, "booting", life, self._first_seen[ident]))
            else:  # Terminating*, Detaching, EnteringStandby, Standby...
                workers.append(Worker(ident, "draining", life, now))
        return FleetState(workers=tuple(workers), last_busy=heartbeats.last_busy(reports, workers))

    def scale_to(self, desired: int, reason: str = "") -> ScaleResult:
        group = self.group()
        state = self._observe(group)
        protected = {i["InstanceId"] for i in group.get("Instances", []) if i.get("ProtectedFromScaleIn")}
        idle = {w.id for w in state.workers if w.condition == "running" and w.state in IDLE_STATES}
        keep = {w.id for w in state.workers if w.condition in ("running", "booting")} - idle
        self._protect(sorted(keep - protected), True)
        self._protect(sorted(idle & protected), False)

        capacity = max(min(desired, self.max_workers), len(keep))
        capacity = max(group["MinSize"], min(capacity, group["MaxSize"]))
        before = group["DesiredCapacity"]
        if capacity != before:
            self.autoscaling.set_desired_capacity(AutoScalingGroupName=self.name, DesiredCapacity=capacity,
                                                  HonorCooldown=False)
        notes = [f"desired capacity {before} -> {capacity}"] if capacity != before else []
        if capacity < before:
            notes.append(f"the group picks among {len(idle)} unprotected idle instance(s)")
        if capacity != desired:
            notes.append(f"asked for {desired}, busy instances and the group's limits allow {capacity}")
        return ScaleResult(note="; ".join(notes))

    def _protect(self, ids: list[str], on: bool) -> None:
        for start in range(0, len(ids), MAX_PROTECTION_BATCH):
            self.autoscaling.set_instance_protection(AutoScalingGroupName=self.name,
                                                     InstanceIds=ids[start:start + MAX_PROTECTION_BATCH],
                                                     ProtectedFromScaleIn=on)

    def close(self) -> None:
        """The group keeps its desired capacity; the next scaler takes over from there."""
