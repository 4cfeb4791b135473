"""The EC2 fleet: worker instances booted from the worker image, with a warm pool of stopped ones.

* Instances carry the tags ``imgrec:role=worker`` and ``imgrec:queue=<request queue>`` (several
  deployments can share an account), ``imgrec:settings`` (a hash of what a worker is launched with,
  see :func:`settings_hash`) and a ``Name`` of ``app-instance<N>``, as in the original design: the
  lowest free numbers, kept for life, so a restarted instance keeps its name.
* Scale-out restarts stopped instances first (about 12 s against about 40 s for a new launch),
  then launches new ones from ``ami_id`` with the instance profile, security groups, key pair and
  the user data of ``cloud/ami``. Pending instances count against the cap: never more than
  ``max_workers`` pending and running together.
* Scale-in stops only *idle* instances (``keep_warm``; terminates them otherwise). A worker
  reports idle through its status object in the output bucket (see ``heartbeats.py``). A stop is
  an OS shutdown: the worker gets SIGTERM and drains before the machine powers off, so a message
  received in the instant between the report and the stop is finished, not lost.
* Belt and braces: each worker also exits after an idle timeout and its boot script powers the
  instance off (``cloud/ami``), so instances never run unwatched when the scaler is gone.
* Workers need an instance profile for their AWS credentials, and the worker image: without
  ``instance_profile`` or ``ami_id`` the fleet refuses to start (``check_launch_settings``).
* A worker with no status object yet reads as "no report", also where S3 answers 403 for a missing
  object (a scaler role without s3:ListBucket).

What real EC2 does that moto does not, and what the fleet does about it (``tests/cloud/scaler/
test_fleet_faults.py`` shows each with a fault layer on the EC2 client):

* **DescribeInstances lags.** An instance this fleet launched may be missing for a while, and one
  it started may still show as stopped. For ``VISIBILITY_GRACE_SECONDS`` after a launch or a
  start such an instance counts as booting, so the fleet never launches past ``max_workers`` on a
  view that has not caught up; a stopped instance it has just started is not started again.
* **No capacity.** StartInstances is all or nothing: when it answers with a capacity error the
  fleet starts the stopped instances one at a time, then launches the rest across the configured
  subnets (``subnet_ids``, else ``subnet_id``) and instance types (``instance_types``, else
  ``instance_type``), in order. A subnet and type that refused is skipped for ``REFUSED_SECONDS``.
* **Spot** (``market = "spot"``): workers launch as one-time spot instances, and on demand where
  every subnet and type refuses spot. A spot instance cannot be stopped, so scale-in terminates
  and a worker that powers off terminates its instance: no warm pool. An interruption
  (``Server.SpotInstanceTermination``) is EC2's doing, not a failed start; the worker drains on the
  notice (``cloud/worker/spot.py``) and the policy launches a replacement when work still waits.
* **A warm pool from another build.** Only stopped instances of the current image (``ami_id``),
  settings (the ``imgrec:settings`` tag) and a configured instance type are restarted. The others
  (after a re-bake or a settings change) would boot an old worker with first-boot settings that are
  never written again, so they are terminated.
* **Workers that die at boot.** An instance this fleet (re)started that stops before its worker
  ever worked (reported busy or idle), or that runs with no status object for
  ``heartbeats.BOOT_GRACE_SECONDS`` (its worker never came up: it is terminated), is a failed
  start. Restarting it at once would cycle, and bill, for as long as work waits. So after a failed
  start nothing is launched for ``FAILED_START_BACKOFF`` (60 s, then 120 s...) and that instance is
  not restarted for its own backoff. After ``FAILED_STARTS_TO_HOLD`` in a row the fleet logs one
  error with what it can read of the cause (EC2's state reason, the worker's last status, the boot
  script's lines on the console) and terminates the instance; when they were the fleet's last
  starts in a row (a bad setting fails every worker), it also launches nothing more until a worker
  works or the scaler is restarted (``held``). Instances the fleet stopped itself, and stops that
  EC2 gives a ``Server.*`` reason for, do not count.
* **Errors.** Every EC2 call that acts (start, run, stop, terminate, console output) is logged once
  per operation and error code, until it next succeeds, and the tick goes on; the call is tried
  again on a later tick. A failed DescribeInstances fails the tick (the loop logs it once per
  outage): nothing is launched or stopped on a view the fleet could not get.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from cloud.scaler import heartbeats
from cloud.scaler.fleet import CallFailed, Calls, FleetState, FleetWorker, ScaleResult
from shared import aws
from shared.backoff import Backoff
from shared.config import Config, ConfigError
from shared.s3 import S3Service
from shared.worker_status import BUSY, IDLE, IDLE_STATES, WorkerStatus, read_statuses

log = logging.getLogger(__name__)

ROLE_TAG, ROLE = "imgrec:role", "worker"
QUEUE_TAG = "imgrec:queue"
SETTINGS_TAG = "imgrec:settings"
GROUP_TAG = "aws:autoscaling:groupName"  # an Auto Scaling group's member: the group's to manage, not ours
LIVE_STATES = ("pending", "running", "stopping", "stopped")
GONE_STATES = ("shutting-down", "terminated")  # described too: their state reason tells why they went
DOWN_STATES = ("stopping", "stopped", *GONE_STATES)

VISIBILITY_GRACE_SECONDS = 90.0  # DescribeInstances may lag our own RunInstances/StartInstances this long
REFUSED_SECONDS = 60.0  # a subnet and instance type (and market) that had no capacity is skipped this long
FAILED_START_BACKOFF = Backoff(first=60.0, longest=1800.0)  # seconds without launches after a failed start
FAILED_STARTS_TO_HOLD = 3  # failed starts in a row after which the fleet holds until a worker works
CONSOLE_LINES = 5  # the boot script's last lines quoted from the console when the fleet holds
BOOT_SCRIPT_MARK = "imgrec-worker:"  # how the boot script's console lines begin (cloud/ami/imgrec-worker.sh)

# Answers that mean "not here, not now": try the next subnet or instance type (EC2 API error codes).
CAPACITY_CODES = frozenset({"InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
                            "InsufficientFreeAddressesInSubnet", "Unsupported"})
SPOT_REFUSED_CODES = CAPACITY_CODES | {"MaxSpotInstanceCountExceeded", "SpotMaxPriceTooLow"}
SPOT_OPTIONS = {"MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}


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


def settings_hash(cfg: Config) -> str:
    """What a stopped instance must share with a new launch to be restarted in its place: the user data
    (the worker's settings, written at first boot only), instance profile, security groups, key pair,
    market and launch template. The image is compared by the instance's own ImageId."""
    from cloud.ami.user_data import user_data

    what = {"user_data": user_data(cfg), "instance_profile": cfg.instance_profile or "",
            "security_groups": sorted(cfg.security_group_ids), "key_name": cfg.key_name or "", "market": cfg.market,
            "launch_template": cfg.launch_template or ""}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


class Choice(NamedTuple):
    """Where and how one worker is launched."""

    market: str  # spot | on-demand
    subnet: str | None
    instance_type: str

    def __str__(self) -> str:
        return f"{self.instance_type} {self.market} in {self.subnet or 'the default subnet'}"


def launch_choices(cfg: Config) -> list[Choice]:
    """Every way to launch a worker, in the order tried: spot before on demand (market = spot), then each
    subnet, then each instance type."""
    markets = ("spot", "on-demand") if cfg.market == "spot" else ("on-demand",)
    subnets = cfg.subnet_ids or (cfg.subnet_id,)
    types = cfg.instance_types or (cfg.instance_type,)
    return [Choice(m, s, t) for m in markets for s in subnets for t in types]


@dataclass
class _Start:
    """An instance this fleet launched or restarted, followed until its worker has worked."""

    at: float  # when this fleet launched or started it
    name: str
    new: bool  # launched (RunInstances), not restarted
    seen_up: bool = False  # DescribeInstances has shown it pending or running since


def _name_number(prefix: str, name: str) -> int | None:
    match = re.fullmatch(re.escape(prefix) + r"(\d+)", name or "")
    return int(match.group(1)) if match else None


def _tag(instance: dict, key: str) -> str:
    return next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == key), "")


def _state(instance: dict | None) -> str | None:
    return instance["State"]["Name"] if instance else None


class Ec2Fleet:
    kind = "ec2"

    def __init__(self, cfg: Config, *, max_workers: int | None = None, keep_warm: bool = True, ec2=None,
                 s3: S3Service | None = None, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self.max_workers = cfg.max_workers if max_workers is None else max_workers
        self.keep_warm = keep_warm and cfg.market != "spot"  # a one-time spot instance cannot be stopped
        self.ec2 = ec2 or aws.client(cfg, "ec2")
        self._call = Calls(self.ec2, "EC2", log)
        self.s3 = s3 or S3Service(cfg, denied_is_missing=True)  # it reads only status objects
        self.changed = threading.Event()  # no early signal from EC2: the loop ticks
        self._clock = clock
        self._settings_hash: str | None = None
        self._started: dict[str, float] = {}  # instance id -> when this fleet last (re)started it
        self._starts: dict[str, _Start] = {}  # (re)started by this fleet, its worker has not worked yet
        self._stopping: dict[str, float] = {}  # instance id -> when this fleet stopped or terminated it
        self._refused: dict[Choice, float] = {}  # no capacity there until then
        self._refused_start: dict[str, float] = {}  # a stopped instance EC2 could not start, until then
        self._failed_starts = 0  # in a row, across the fleet
        self._hold_until = 0.0  # no launch or restart before this (after failed starts)
        self._instance_failures: dict[str, tuple[int, float]] = {}  # id -> (failed starts in a row, no restart before)
        self.held = ""  # why the fleet launches nothing at all (FAILED_STARTS_TO_HOLD in a row); "" if not

    # --- observation -------------------------------------------------------------------------
    def _describe(self) -> list[dict]:
        """This deployment's worker instances, terminated ones included."""
        filters = [
            {"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]},
            {"Name": f"tag:{QUEUE_TAG}", "Values": [self.cfg.request_queue]},
            {"Name": "instance-state-name", "Values": [*LIVE_STATES, *GONE_STATES]},
        ]
        found = []
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                found.extend(reservation["Instances"])
        return found

    def instances(self) -> list[dict]:
        """This deployment's worker instances that are not terminated, stopped ones included."""
        return [i for i in self._describe() if _state(i) in LIVE_STATES]

    def observe(self) -> FleetState:
        return self._observe(self._describe())

    def _lagging(self, ident: str, state: str | None, now: float) -> bool:
        """Whether the view still shows an instance this fleet has just started as stopped."""
        start = self._starts.get(ident)
        return (start is not None and not start.new and not start.seen_up and state == "stopped"
                and now - start.at < VISIBILITY_GRACE_SECONDS)

    def _observe(self, described: list[dict]) -> FleetState:
        now = self._clock()
        by_id = {i["InstanceId"]: i for i in described}
        running = [ident for ident, inst in by_id.items() if _state(inst) == "running"]
        reports = read_statuses(self.s3, self.cfg.output_bucket, running)
        self._follow_starts(by_id, reports, now)
        workers: list[FleetWorker] = []
        for ident, inst in by_id.items():
            state = _state(inst)
            started = max(inst["LaunchTime"].timestamp(), self._started.get(ident, 0.0))
            stopped_at = self._stopping.get(ident)
            if self._lagging(ident, state, now):
                workers.append(FleetWorker(ident, "booting", "pending", started))
            elif stopped_at is not None and state in ("pending", "running"):  # the view has not caught up
                workers.append(FleetWorker(ident, "draining", "stopping", stopped_at))
            elif state == "pending":
                workers.append(FleetWorker(ident, "booting", state, started))
            elif state == "running":
                workers.append(heartbeats.classify(ident, started, reports.get(ident), now))
            elif state == "stopping":
                workers.append(FleetWorker(ident, "draining", state, now))
        for ident, start in self._starts.items():  # launched, not described yet
            if ident not in by_id and now - start.at < VISIBILITY_GRACE_SECONDS:
                workers.append(FleetWorker(ident, "booting", "pending", start.at))
        self._forget(by_id, now)
        return FleetState(workers=tuple(workers), last_busy=heartbeats.last_busy(reports, workers))

    def _forget(self, by_id: dict[str, dict], now: float) -> None:
        for ident in [i for i in self._instance_failures if _state(by_id.get(i)) not in LIVE_STATES]:
            del self._instance_failures[ident]
        for ident, at in list(self._stopping.items()):
            if _state(by_id.get(ident)) in ("stopped", *GONE_STATES) or now - at >= VISIBILITY_GRACE_SECONDS:
                del self._stopping[ident]
        for ident, at in list(self._started.items()):
            if (ident not in by_id or _state(by_id[ident]) in GONE_STATES) and ident not in self._starts \
                    and now - at >= VISIBILITY_GRACE_SECONDS:
                del self._started[ident]

    def _follow_starts(self, by_id: dict[str, dict], reports: dict[str, WorkerStatus], now: float) -> None:
        """Each instance this fleet started either works (a report of busy or idle since the start, or a
        measured rate), or it is a failed start: it went down (stopped, terminated) without working, or
        ran with no report at all for the boot grace."""
        for ident, start in list(self._starts.items()):
            inst = by_id.get(ident)
            state = _state(inst)
            if state in ("pending", "running"):
                start.seen_up = True
            report = reports.get(ident)
            if report is not None and report.ts < start.at - 1.0:
                report = None  # from before this start
            if report is not None and (report.state in (BUSY, IDLE) or report.images_per_s is not None):
                del self._starts[ident]
                self._instance_failures.pop(ident, None)
                self._failed_starts, self._hold_until, self.held = 0, 0.0, ""
                continue
            if ident in self._stopping:  # this fleet stopped it: no verdict on its worker
                del self._starts[ident]
                continue
            late = now - start.at >= VISIBILITY_GRACE_SECONDS
            if inst is None:
                if late:  # no evidence against its worker: it only stops counting as booting
                    del self._starts[ident]
                    log.warning("instance %s, launched %.0f s ago, is still not in DescribeInstances: no longer "
                                "counted as booting", ident, now - start.at)
                continue
            if state in DOWN_STATES and (start.seen_up or start.new or late):
                del self._starts[ident]
                reason = (inst or {}).get("StateReason") or {}
                if str(reason.get("Code", "")).startswith("Server."):  # spot interruption, capacity, hardware
                    log.info("instance %s went %s: %s", ident, state, reason.get("Message") or reason["Code"])
                    continue
                self._failed_start(ident, inst, report, now, "stopped before its worker worked")
            elif state == "running" and report is None and now - start.at >= heartbeats.BOOT_GRACE_SECONDS:
                del self._starts[ident]  # its worker never came up: it would bill as "running" for ever
                why = f"ran {now - start.at:.0f} s without a status report; terminated"
                try:
                    self._call("terminate_instances", InstanceIds=[ident])
                    self._stopping[ident] = now
                except CallFailed as exc:
                    why = f"ran {now - start.at:.0f} s without a status report; could not terminate it: {exc.message}"
                self._failed_start(ident, inst, report, now, why)

    def _failed_start(self, ident: str, inst: dict | None, report: WorkerStatus | None, now: float,
                      what: str) -> None:
        """Counts a failed start twice: for the fleet (a bad setting fails every worker; launches wait, and
        after FAILED_STARTS_TO_HOLD in a row the fleet holds) and for the instance (a broken one among good
        ones is restarted only after its own backoff, and terminated after FAILED_STARTS_TO_HOLD)."""
        self._failed_starts += 1
        mine = self._instance_failures.get(ident, (0, 0.0))[0] + 1
        if self._failed_starts >= FAILED_STARTS_TO_HOLD or mine >= FAILED_STARTS_TO_HOLD:
            whose = (f"{self._failed_starts} workers in a row failed to start" if self._failed_starts >= mine
                     else f"instance {ident} failed to start {mine} times in a row")
            why = f"{whose}; the last, {ident}, {what}: {self._why(ident, inst, report)}"
            if self._failed_starts >= FAILED_STARTS_TO_HOLD:
                self.held = why
                log.error("%s. The EC2 fleet launches and restarts nothing more until a worker works or the "
                          "scaler is restarted: fix the cause first (is instance_profile right? is ami_id an image "
                          "made by `imgrec ami bake`? the worker's log on the instance is "
                          "/var/log/imgrec/worker.log)", why)
            else:
                log.error("%s. Other workers work: %s is terminated rather than restarted again", why, ident)
            self._instance_failures.pop(ident, None)
            if _state(inst) in LIVE_STATES and ident not in self._stopping:
                try:  # a broken instance is not worth its volume
                    self._call("terminate_instances", InstanceIds=[ident])
                    self._stopping[ident] = now
                except CallFailed:
                    pass
            return
        pause, own = FAILED_START_BACKOFF.ceiling(self._failed_starts), FAILED_START_BACKOFF.ceiling(mine)
        self._hold_until = now + pause
        self._instance_failures[ident] = (mine, now + own)
        log.warning("instance %s %s (failed starts in a row: %d of the fleet, %d of this instance): no launches "
                    "for %.0f s, and it is not restarted for %.0f s; is instance_profile right? see "
                    "/var/log/imgrec/ on the instance", ident, what, self._failed_starts, mine, pause, own)

    def _why(self, ident: str, inst: dict | None, report: WorkerStatus | None) -> str:
        """What can be read of why a worker did not start: EC2's state reason, its last status, the console."""
        parts = []
        reason = ((inst or {}).get("StateReason") or {}).get("Message")
        if reason:
            parts.append(f"EC2: {reason}")
        parts.append(f"its worker last reported {report.state!r}" if report is not None
                     else "its worker never wrote a status object")
        lines = self._console_tail(ident)
        parts.append("console: " + " / ".join(lines) if lines else
                     "no console output yet (EC2 publishes it a few minutes after boot)")
        return "; ".join(parts)

    def _console_tail(self, ident: str) -> list[str]:
        """The boot script's last lines on the instance's console (any last lines when it wrote none)."""
        try:
            output = self._call("get_console_output", InstanceId=ident, Latest=True).get("Output") or ""
        except CallFailed:
            return []
        try:
            text = base64.b64decode(output, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            text = output
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        ours = [line[line.index(BOOT_SCRIPT_MARK):] for line in lines if BOOT_SCRIPT_MARK in line]
        return (ours or lines)[-CONSOLE_LINES:]

    # --- the warm pool -----------------------------------------------------------------------
    def settings_hash(self) -> str:
        if self._settings_hash is None:
            self._settings_hash = settings_hash(self.cfg)
        return self._settings_hash

    def _in_pool(self, inst: dict, now: float) -> bool:
        return (_state(inst) == "stopped" and not _tag(inst, GROUP_TAG)
                and not self._lagging(inst["InstanceId"], "stopped", now))

    def _reusable(self, inst: dict) -> bool:
        types = self.cfg.instance_types or (self.cfg.instance_type,)
        return (inst.get("ImageId") == self.cfg.ami_id and _tag(inst, SETTINGS_TAG) == self.settings_hash()
                and inst.get("InstanceType") in types and inst.get("InstanceLifecycle") != "spot")

    def _retire_others(self, live: list[dict], now: float) -> str:
        """Terminates stopped instances of another image or settings; a note when it did or could not."""
        if not self.cfg.ami_id:
            return ""
        others = sorted(i["InstanceId"] for i in live if self._in_pool(i, now) and not self._reusable(i)
                        and i["InstanceId"] not in self._stopping)
        if not others:
            return ""
        try:
            self._call("terminate_instances", InstanceIds=others)
        except CallFailed as exc:
            return f"could not terminate {len(others)} stopped instance(s) of another image or settings: {exc.message}"
        for ident in others:
            self._stopping[ident] = now
        log.info("terminated %d stopped worker instance(s) of another image or settings (%s): the warm pool "
                 "restarts only instances of image %s with the current settings", len(others), ", ".join(others),
                 self.cfg.ami_id)
        return f"terminated {len(others)} stopped instance(s) of another image or settings"

    # --- action ------------------------------------------------------------------------------
    def scale_to(self, desired: int) -> ScaleResult:
        described = self._describe()
        state = self._observe(described)
        now = self._clock()
        live = [i for i in described if _state(i) in LIVE_STATES]
        active = state.running + state.booting
        desired = min(desired, self.max_workers)
        notes = [n for n in [self._retire_others(live, now)] if n]
        if desired > active and self.held:
            result = ScaleResult(note=f"held: {self.held}")
        elif desired > active and now < self._hold_until:
            result = ScaleResult(note=f"launches held for {self._hold_until - now:.0f} s more: "
                                      f"{self._failed_starts} worker(s) in a row failed to start")
        elif desired > active:
            result = self._launch(desired - active, live, now)
        elif desired < active:
            idle = sorted((w for w in state.workers if w.condition == "running" and w.state in IDLE_STATES),
                          key=lambda w: w.since)
            result = self._remove(active - desired, [w.id for w in idle], {i["InstanceId"]: i for i in live}, now)
        else:
            result = ScaleResult()
        if result.note:
            notes.append(result.note)
        return ScaleResult(launched=result.launched, removed=result.removed, note="; ".join(notes))

    def _launch(self, count: int, live: list[dict], now: float) -> ScaleResult:
        check_launch_settings(self.cfg)
        notes: list[str] = []
        prefix = self.cfg.instance_name_prefix
        pool = sorted((i for i in live if self._in_pool(i, now) and self._reusable(i)
                       and self._refused_start.get(i["InstanceId"], 0.0) <= now
                       and self._instance_failures.get(i["InstanceId"], (0, 0.0))[1] <= now),
                      key=lambda i: _name_number(prefix, _tag(i, "Name")) or 0)
        launched = self._restart(pool[:count], notes, now)
        if len(launched) < count:
            used = {_name_number(prefix, _tag(i, "Name")) for i in live}
            used |= {_name_number(prefix, s.name) for s in self._starts.values()}  # launched, not described yet
            numbers = (n for n in range(1, 10_000) if n not in used)
            for _ in range(count - len(launched)):
                name = f"{prefix}{next(numbers)}"
                ident = self._run(name, notes, now)
                if ident is None:
                    break
                launched.append(ident)
        return ScaleResult(launched=tuple(launched), note="; ".join(notes))

    def _restart(self, pool: list[dict], notes: list[str], now: float) -> list[str]:
        """Starts stopped instances: all in one call, or one at a time when EC2 has no capacity for all."""
        if not pool:
            return []
        ids = [i["InstanceId"] for i in pool]
        try:
            self._call("start_instances", InstanceIds=ids)
            started = ids
        except CallFailed as exc:
            if exc.code not in CAPACITY_CODES:
                notes.append(f"restart failed: {exc.message}")
                return []
            started = []
            for ident in ids:
                try:
                    self._call("start_instances", InstanceIds=[ident])
                    started.append(ident)
                except CallFailed as one:
                    self._refused_start[ident] = now + REFUSED_SECONDS
                    if one.code not in CAPACITY_CODES:
                        break
            notes.append(f"{len(ids) - len(started)} of {len(ids)} restart(s) refused ({exc.code})")
        names = {i["InstanceId"]: _tag(i, "Name") for i in pool}
        for ident in started:
            self._track(ident, names[ident], new=False, now=now)
        return list(started)

    def _track(self, ident: str, name: str, *, new: bool, now: float) -> None:
        self._started[ident] = now
        self._starts[ident] = _Start(at=now, name=name, new=new)
        self._stopping.pop(ident, None)
        self._refused_start.pop(ident, None)

    def _run(self, name: str, notes: list[str], now: float) -> str | None:
        """Launches one worker, trying each launch choice in turn; None when none would take it."""
        refused: list[str] = []
        for choice in launch_choices(self.cfg):
            if self._refused.get(choice, 0.0) > now:
                continue
            try:
                answer = self._call("run_instances", **self._launch_params(name, choice))
            except CallFailed as exc:
                codes = SPOT_REFUSED_CODES if choice.market == "spot" else CAPACITY_CODES
                if exc.code not in codes:  # limits, permissions, a bad setting: the next tick tries again
                    notes.append(f"launch of {name} failed: {exc.message}")
                    return None
                self._refused[choice] = now + REFUSED_SECONDS
                refused.append(f"{choice} ({exc.code})")
                continue
            ident = answer["Instances"][0]["InstanceId"]
            self._track(ident, name, new=True, now=now)
            if refused:
                notes.append(f"{name}: {choice}, after no capacity for {', '.join(refused)}")
            return ident
        notes.append(f"no capacity to launch {name} in any configured subnet and instance type"
                     f"{' (spot or on demand)' if self.cfg.market == 'spot' else ''}: "
                     + (", ".join(refused) if refused else f"all refused within the last {REFUSED_SECONDS:.0f} s"))
        return None

    def _launch_params(self, name: str, choice: Choice) -> dict:
        from cloud.ami.user_data import user_data

        cfg = self.cfg
        tags = [{"Key": "Name", "Value": name}, {"Key": ROLE_TAG, "Value": ROLE},
                {"Key": QUEUE_TAG, "Value": cfg.request_queue}, {"Key": SETTINGS_TAG, "Value": self.settings_hash()}]
        params = {
            "ImageId": cfg.ami_id,
            "InstanceType": choice.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": user_data(cfg),
            # A worker that powers itself off stays in the warm pool instead of vanishing; in spot mode
            # (no warm pool) it goes.
            "InstanceInitiatedShutdownBehavior": "terminate" if cfg.market == "spot" else "stop",
            "MetadataOptions": {"HttpTokens": "required"},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
        }
        if cfg.launch_template:  # the deployment's template: encrypted root volume, credits; ours override the rest
            params["LaunchTemplate"] = {"LaunchTemplateId": cfg.launch_template, "Version": "$Latest"}
        key = "Arn" if cfg.instance_profile.startswith("arn:") else "Name"
        params["IamInstanceProfile"] = {key: cfg.instance_profile}
        if choice.market == "spot":
            params["InstanceMarketOptions"] = SPOT_OPTIONS
        if choice.subnet:
            params["SubnetId"] = choice.subnet
        if cfg.security_group_ids:
            params["SecurityGroupIds"] = list(cfg.security_group_ids)
        if cfg.key_name:
            params["KeyName"] = cfg.key_name
        return params

    def _remove(self, count: int, idle_ids: list[str], by_id: dict[str, dict], now: float) -> ScaleResult:
        chosen = idle_ids[:count]
        stop = [i for i in chosen if self.keep_warm and by_id.get(i, {}).get("InstanceLifecycle") != "spot"]
        terminate = [i for i in chosen if i not in stop]
        removed: list[str] = []
        notes = [] if len(chosen) == count else [f"{count - len(chosen)} busy or booting instance(s) kept"]
        for operation, ids in (("stop_instances", stop), ("terminate_instances", terminate)):
            if not ids:
                continue
            try:
                self._call(operation, InstanceIds=ids)
            except CallFailed as exc:
                notes.append(f"{operation} of {len(ids)} failed ({exc.code}): trying again next tick")
                continue
            for ident in ids:
                self._stopping[ident] = now
            removed.extend(ids)
        return ScaleResult(removed=tuple(removed), note="; ".join(notes))

    def close(self) -> None:
        """Instances outlive this process: the next scaler, or their own idle timeout, stops them."""
