"""The Auto Scaling fleet: the scaler sets the desired capacity of an existing group; AWS launches.

For users who outgrow one controller's launches, or who want AWS's own warm pools, health checks
and instance refresh. The group must launch the worker image (``imgrec ami bake``) with the user
data of ``imgrec ami user-data``. Workers report idle through their status objects, exactly as on
the EC2 fleet (``heartbeats.py``).

Scale-in protection keeps busy instances: before each change every instance that is not known
idle is protected and every idle one is not, so when the desired capacity drops, the group can
only pick idle instances to terminate. The desired capacity is never set below the protected
count (the group would wait on them anyway) and is kept within the group's MinSize..MaxSize. When
protecting a busy instance fails, the capacity is not lowered on that tick: the group could pick it.

Workers in a group never power themselves off (their boot script restarts a worker that exits, see
``cloud/ami/imgrec-worker.sh``): the group would count a stopped instance unhealthy and replace it, for
ever. Scale-in is this fleet lowering the desired capacity, nothing else.

The group launches from a launch template (``imgrec deploy`` makes one). A group that still launches from
a launch configuration works, but new accounts cannot create those any more; the fleet says so once.
Errors of the calls that act (protection, capacity) are logged once and the next tick tries again; a
failed DescribeAutoScalingGroups fails the tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cloud.scaler import heartbeats
from cloud.scaler.fleet import CallFailed, Calls, FleetState, FleetWorker, ScaleResult
from shared import aws
from shared.config import Config, ConfigError
from shared.s3 import S3Service
from shared.worker_status import IDLE_STATES, read_statuses

log = logging.getLogger(__name__)

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
        self._call = Calls(self.autoscaling, "Auto Scaling", log)
        self._template_checked = False
        self.s3 = s3 or S3Service(cfg)
        self.changed = threading.Event()
        self._clock = clock
        self._first_seen: dict[str, float] = {}  # instance id -> when this fleet first saw it in service

    def group(self) -> dict:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])["AutoScalingGroups"]
        if not groups:
            raise ConfigError(f"asg_name = {self.name!r}: no such Auto Scaling group in {self.cfg.region}")
        if not self._template_checked:
            self._template_checked = True
            if groups[0].get("LaunchConfigurationName"):
                log.warning("Auto Scaling group %s launches from launch configuration %s: it works, but new accounts "
                            "cannot create launch configurations any more; `imgrec deploy` makes a launch template",
                            self.name, groups[0]["LaunchConfigurationName"])
        return groups[0]

    def observe(self) -> FleetState:
        return self._observe(self.group())

    def _observe(self, group: dict) -> FleetState:
        now = self._clock()
        members = [i for i in group.get("Instances", []) if not i["LifecycleState"].startswith("Warmed")]
        in_service = [i["InstanceId"] for i in members if i["LifecycleState"] == "InService"]
        reports = read_statuses(self.s3, self.cfg.output_bucket, in_service)
        workers: list[FleetWorker] = []
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
                workers.append(FleetWorker(ident, "booting", life, self._first_seen[ident]))
            else:  # Terminating*, Detaching, EnteringStandby, Standby...
                workers.append(FleetWorker(ident, "draining", life, now))
        return FleetState(workers=tuple(workers), last_busy=heartbeats.last_busy(reports, workers))

    def scale_to(self, desired: int) -> ScaleResult:
        group = self.group()
        state = self._observe(group)
        protected = {i["InstanceId"] for i in group.get("Instances", []) if i.get("ProtectedFromScaleIn")}
        idle = {w.id for w in state.workers if w.condition == "running" and w.state in IDLE_STATES}
        keep = {w.id for w in state.workers if w.condition in ("running", "booting")} - idle
        notes: list[str] = []
        unprotected = self._protect(sorted(keep - protected), True, notes)
        self._protect(sorted(idle & protected), False, notes)

        before = group["DesiredCapacity"]
        capacity = max(min(desired, self.max_workers), len(keep))
        capacity = max(group["MinSize"], min(capacity, group["MaxSize"]))
        if capacity < before and unprotected:
            capacity = before  # the group could pick a busy instance: scale in on a later tick
            notes.append(f"{unprotected} busy or booting instance(s) not protected yet: not scaling in")
        if capacity != before:
            try:
                self._call("set_desired_capacity", AutoScalingGroupName=self.name, DesiredCapacity=capacity,
                           HonorCooldown=False)
            except CallFailed as exc:
                return ScaleResult(note="; ".join([*notes, f"desired capacity stays {before}: {exc.message}"]))
            notes.append(f"desired capacity {before} -> {capacity}")
        if capacity < before:
            notes.append(f"the group picks among {len(idle)} unprotected idle instance(s)")
        if capacity != desired:
            notes.append(f"asked for {desired}, busy instances and the group's limits allow {capacity}")
        return ScaleResult(note="; ".join(notes))

    def _protect(self, ids: list[str], on: bool, notes: list[str]) -> int:
        """Sets scale-in protection; returns how many instances it could not set it for."""
        failed = 0
        for start in range(0, len(ids), MAX_PROTECTION_BATCH):
            batch = ids[start:start + MAX_PROTECTION_BATCH]
            try:
                self._call("set_instance_protection", AutoScalingGroupName=self.name, InstanceIds=batch,
                           ProtectedFromScaleIn=on)
            except CallFailed as exc:
                failed += len(batch)
                notes.append(f"could not {'set' if on else 'clear'} scale-in protection of {len(batch)}: {exc.code}")
        return failed

    def close(self) -> None:
        """The group keeps its desired capacity; the next scaler takes over from there."""
