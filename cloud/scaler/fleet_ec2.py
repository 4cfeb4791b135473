"""The EC2 fleet: worker instances booted from the worker image, with a warm pool of stopped ones.

* Instances carry the tags ``imgrec:role=worker`` and ``imgrec:queue=<request queue>`` (several
  deployments can share an account) and a ``Name`` of ``app-instance<N>``, as in the original
  design: the lowest free numbers, kept for life, so a restarted instance keeps its name.
* Scale-out restarts stopped instances first (about 12 s against about 40 s for a new launch),
  then launches new ones from ``ami_id`` with the configured type, instance profile, subnet,
  security groups, key pair and the user data of ``cloud/ami``. Pending instances count against
  the cap: never more than ``max_workers`` pending and running together.
* Scale-in stops only *idle* instances (``keep_warm``; terminates them otherwise). A worker
  reports idle through its status object in the output bucket (see ``heartbeats.py``). A stop is
  an OS shutdown: systemd sends the worker SIGTERM, and it drains before the machine powers off,
  so a message received in the instant between the report and the stop is finished, not lost.
* Belt and braces: each worker also exits after an idle timeout and its boot script powers the
  instance off (``cloud/ami``), so instances never run unwatched when the scaler is gone.
* A worker that powers its instance off before it ever reported (no credentials, a broken image)
  is a failed start. Restarting it at once would cycle, and bill, for as long as work waits, so
  after a failed start the fleet launches and restarts nothing for a while, twice as long after
  each failed start in a row (``FAILED_START_BACKOFF``), until a worker reports.
* Workers need an instance profile for their AWS credentials, and the worker image: without
  ``instance_profile`` or ``ami_id`` the fleet refuses to start (``check_launch_settings``).
* A worker with no status object yet reads as "no report", also where S3 answers 403 for a missing
  object (a scaler role without s3:ListBucket).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from cloud.scaler import heartbeats
from cloud.scaler.fleet import IDLE_STATES, FleetState, ScaleResult, Worker
from shared import aws
from shared.backoff import Backoff
from shared.config import Config, ConfigError
from shared.s3 import S3Service

log = logging.getLogger(__name__)

ROLE_TAG, ROLE = "imgrec:role", "worker"
QUEUE_TAG = "imgrec:queue"
LIVE_STATES = ("pending", "running", "stopping", "stopped")
FAILED_START_BACKOFF = Backoff(first=60.0, longest=1800.0)  # seconds without launches after a failed start


def check_launch_settings(cfg: Config) -> None:
    """Raises ConfigError naming the setting when workers could not be launched, or would die at boot."""
    if not cfg.ami_id:
        raise ConfigError(f"ami_id is not set (from {cfg.source_of('ami_id')}): the EC2 fleet launches "
                          "workers from the worker image; make one with `imgrec ami bake`")
    if not cfg.instance_profile:
        raise ConfigError(f"instance_profile is not set (from {cfg.source_of('instance_profile')}): a worker "
                          "instance gets its AWS credentials from its instance profile, and without them it "
                          "exits and powers off at boot; set instance_profile to the workers' profile (name or "
                          "ARN; `imgrec deploy` writes it)")


def _name_number(prefix: str, name: str) -> int | None:
    match = re.fullmatch(re.escape(prefix) + r"(\d+)", name or "")
    return int(match.group(1)) if match else None


def _tag(instance: dict, key: str) -> str:
    return next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == key), "")


class Ec2Fleet:
    kind = "ec2"

    def __init__(self, cfg: Config, *, max_workers: int | None = None, keep_warm: bool = True, ec2=None,
                 s3: S3Service | None = None, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self.max_workers = cfg.max_workers if max_workers is None else max_workers
        self.keep_warm = keep_warm
        self.ec2 = ec2 or aws.client(cfg, "ec2")
        self.s3 = s3 or S3Service(cfg, denied_is_missing=True)  # it reads only status objects
        self.changed = threading.Event()  # no early signal from EC2: the loop ticks
        self._clock = clock
        self._started: dict[str, float] = {}  # instance id -> when this fleet (re)started it
        self._unproven: set[str] = set()  # (re)started by this fleet, no report since
        self._failed_starts = 0  # in a row
        self._hold_until = 0.0  # no launch or restart before this (after failed starts)

    # --- observation -------------------------------------------------------------------------
    def instances(self) -> list[dict]:
        """This deployment's worker instances that are not terminated, stopped ones included."""
        filters = [
            {"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]},
            {"Name": f"tag:{QUEUE_TAG}", "Values": [self.cfg.request_queue]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        found = []
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                found.extend(reservation["Instances"])
        return found

    def observe(self) -> FleetState:
        return self._observe(self.instances())[0]

    def _observe(self, instances: list[dict]) -> tuple[FleetState, dict[str, heartbeats.Report]]:
        now = self._clock()
        running = [i for i in instances if i["State"]["Name"] == "running"]
        reports = heartbeats.read_reports(self.s3, self.cfg.output_bucket, [i["InstanceId"] for i in running])
        self._note_failed_starts(instances, reports, now)
        workers: list[Worker] = []
        for inst in instances:
            ident, state = inst["InstanceId"], inst["State"]["Name"]
            started = max(inst["LaunchTime"].timestamp(), self._started.get(ident, 0.0))
            if state == "pending":
                workers.append(Worker(ident, "booting", state, started))
            elif state == "running":
                workers.append(heartbeats.classify(ident, started, reports.get(ident), now))
            elif state == "stopping":
                workers.append(Worker(ident, "draining", state, now))
        return FleetState(workers=tuple(workers), last_busy=heartbeats.last_busy(reports, workers)), reports

    def _note_failed_starts(self, instances: list[dict], reports: dict[str, heartbeats.Report], now: float) -> None:
        """A report from an instance this fleet started proves the workers can start; one that stops
        (powers itself off) before any report is a failed start, and holds launches back."""
        for inst in instances:
            ident, state = inst["InstanceId"], inst["State"]["Name"]
            if ident not in self._unproven:
                continue
            report = reports.get(ident)
            if report is not None and report.ts >= self._started.get(ident, 0.0) - 1.0:
                self._unproven.discard(ident)
                self._failed_starts, self._hold_until = 0, 0.0
            elif state in ("stopping", "stopped"):
                self._unproven.discard(ident)
                self._failed_starts += 1
                pause = FAILED_START_BACKOFF.ceiling(self._failed_starts)
                self._hold_until = now + pause
                log.warning("instance %s powered off before its worker reported (%d such start(s) in a row): "
                            "no launches for %.0f s; is instance_profile right? see the worker's log on the "
                            "instance (journalctl -u imgrec-worker)", ident, self._failed_starts, pause)

    # --- action ------------------------------------------------------------------------------
    def scale_to(self, desired: int, reason: str = "") -> ScaleResult:
        instances = self.instances()
        state, _ = self._observe(instances)
        active = state.running + state.booting
        desired = min(desired, self.max_workers)
        if desired > active and self._clock() < self._hold_until:
            return ScaleResult(note=f"launches held for {self._hold_until - self._clock():.0f} s more: "
                                    f"{self._failed_starts} worker(s) in a row powered off before reporting")
        if desired > active:
            stopped = sorted((i for i in instances if i["State"]["Name"] == "stopped"),
                             key=lambda i: _name_number(self.cfg.instance_name_prefix, _tag(i, "Name")) or 0)
            return self._launch(desired - active, stopped, instances)
        if desired < active:
            idle = sorted((w for w in state.workers if w.condition == "running" and w.state in IDLE_STATES),
                          key=lambda w: w.since)
            return self._remove(active - desired, [w.id for w in idle])
        return ScaleResult()

    def _launch(self, count: int, stopped: list[dict], instances: list[dict]) -> ScaleResult:
        launched: list[str] = []
        notes: list[str] = []
        restart = [i["InstanceId"] for i in stopped[:count]]
        if restart:
            try:
                self.ec2.start_instances(InstanceIds=restart)
                now = self._clock()
                self._started.update({ident: now for ident in restart})
                self._unproven.update(restart)
                launched.extend(restart)
            except ClientError as exc:
                notes.append(f"restart failed: {exc.response['Error'].get('Message', exc)}")
        used = {_name_number(self.cfg.instance_name_prefix, _tag(i, "Name")) for i in instances}
        numbers = (n for n in range(1, 10_000) if n not in used)
        for _ in range(count - len(restart)):
            name = f"{self.cfg.instance_name_prefix}{next(numbers)}"
            try:
                ident = self._run_instance(name)
            except ClientError as exc:  # capacity, limits, permissions: report, retry next tick
                notes.append(f"launch of {name} failed: {exc.response['Error'].get('Message', exc)}")
                break
            self._started[ident] = self._clock()
            self._unproven.add(ident)
            launched.append(ident)
        return ScaleResult(launched=tuple(launched), note="; ".join(notes))

    def _run_instance(self, name: str) -> str:
        from cloud.ami.user_data import user_data

        cfg = self.cfg
        check_launch_settings(cfg)
        tags = [{"Key": "Name", "Value": name}, {"Key": ROLE_TAG, "Value": ROLE},
                {"Key": QUEUE_TAG, "Value": cfg.request_queue}]
        kwargs = {
            "ImageId": cfg.ami_id,
            "InstanceType": cfg.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": user_data(cfg),
            # A worker that powers itself off stays in the warm pool instead of vanishing.
            "InstanceInitiatedShutdownBehavior": "stop",
            "MetadataOptions": {"HttpTokens": "required"},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
        }
        key = "Arn" if cfg.instance_profile.startswith("arn:") else "Name"
        kwargs["IamInstanceProfile"] = {key: cfg.instance_profile}
        if cfg.subnet_id:
            kwargs["SubnetId"] = cfg.subnet_id
        if cfg.security_group_ids:
            kwargs["SecurityGroupIds"] = list(cfg.security_group_ids)
        if cfg.key_name:
            kwargs["KeyName"] = cfg.key_name
        return self.ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]

    def _remove(self, count: int, idle_ids: list[str]) -> ScaleResult:
        chosen = idle_ids[:count]
        if chosen:
            if self.keep_warm:
                self.ec2.stop_instances(InstanceIds=chosen)
            else:
                self.ec2.terminate_instances(InstanceIds=chosen)
        note = "" if len(chosen) == count else f"{count - len(chosen)} busy or booting instance(s) kept"
        return ScaleResult(removed=tuple(chosen), note=note)

    def warm_pool(self) -> list[str]:
        return [i["InstanceId"] for i in self.instances() if i["State"]["Name"] == "stopped"]

    def close(self) -> None:
        """Instances outlive this process: the next scaler, or their own idle timeout, stops them."""
