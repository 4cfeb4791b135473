"""`imgrec teardown`: everything a deployment made or left behind removed, the stack last.

What CloudFormation made, deleting the stack removes; but some of what a deployment leaves behind is
not in the stack, or would stop the stack's deletion:

1. the scaler: the controller instance is stopped first (systemd stops ``imgrec scaler`` on it), and
   the Auto Scaling group is held at zero, so nothing launches workers while the rest goes;
2. worker instances (``imgrec:role=worker`` and ``imgrec:queue=<this stack's queue>``, running or
   stopped: a stopped instance's volume still bills) and image builders left by ``imgrec ami bake``
   (``imgrec:role=builder``), terminated;
3. worker images baked by ``imgrec ami bake`` (owned by this account, ``imgrec:role=worker``),
   deregistered, and their snapshots deleted;
4. reply queues named with the stack's prefix, every one (no client can use them once the stack goes);
5. every object in both buckets, every version and delete marker, and unfinished multipart uploads
   (CloudFormation cannot delete a bucket that holds anything);
6. the stack's managed policies detached from the users, groups and roles they were given to (those
   stay: they are not ours; CloudFormation cannot delete a policy still attached to them);
7. the stack, waited for, with its events;
8. a check that nothing tagged as ours remains, and the deployed block out of the config file.

:func:`inventory` finds what there is, for the confirmation; :func:`teardown` removes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from cloud.deploy.stack import Events, Stack, describe, wait
from cloud.scaler.fleet_ec2 import QUEUE_TAG, ROLE, ROLE_TAG
from shared import aws
from shared.config import Config
from shared.s3 import bucket_is_missing
from shared.sqs import SQSService, queue_is_missing

BUILDER_ROLE = "builder"  # cloud/ami/bake.py tags its builder instance so
NOT_TERMINATED = ("pending", "running", "shutting-down", "stopping", "stopped")
INSTANCE_POLL_SECONDS = 5
INSTANCE_WAIT_ATTEMPTS = 120  # ten minutes for instances to stop or terminate
MAX_DELETE_OBJECTS = 1000  # DeleteObjects takes at most this many keys


@dataclass
class Inventory:
    """What the deployment has now, as teardown will remove it."""

    stack: Stack
    controller: str | None
    workers: list[dict] = field(default_factory=list)  # instances, running or stopped
    builders: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reply_queues: list[str] = field(default_factory=list)  # URLs
    attached: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # policy ARN -> (kind, name)

    @property
    def buckets(self) -> list[str]:
        return [self.stack.outputs[key] for key in ("InputBucket", "OutputBucket") if self.stack.outputs.get(key)]

    @property
    def queue(self) -> str:
        return self.stack.outputs.get("RequestQueue", "")

    def lines(self) -> list[str]:
        """What will go, for the confirmation."""
        out = []
        if self.controller:
            out.append(f"the controller {self.controller} (its scaler is stopped first)")
        if self.workers:
            states = ", ".join(f"{i['InstanceId']} {i['State']['Name']}" for i in self.workers)
            out.append(f"{len(self.workers)} worker instance(s): {states}")
        if self.builders:
            out.append(f"{len(self.builders)} image builder instance(s): "
                       + ", ".join(i["InstanceId"] for i in self.builders))
        if self.images or self.snapshots:
            out.append(f"{len(self.images)} worker image(s) baked in this account and region (`imgrec ami bake`)"
                       + "".join(f" {i['ImageId']}" for i in self.images)
                       + f", and {len(self.snapshots)} snapshot(s) of worker images")
        if self.reply_queues:
            out.append(f"{len(self.reply_queues)} reply queue(s) named {self.stack.outputs.get('ReplyQueuePrefix')}*")
        holders = sorted({f"{kind} {name}" for found in self.attached.values() for kind, name in found})
        if holders:
            out.append("the stack's policies, from those they were given to (who stay): " + ", ".join(holders))
        if self.buckets:
            out.append("every object, and every version of it, in the buckets " + " and ".join(self.buckets))
        out.append(f"the stack {self.stack.name} and all it made: buckets, queues, roles and policies, "
                   "security group, launch template, Auto Scaling group")
        return out


def _instances(ec2, filters: list[dict]) -> list[dict]:
    filters = filters + [{"Name": "instance-state-name", "Values": list(NOT_TERMINATED)}]
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            found.extend(reservation["Instances"])
    return found


def _worker_filters(queue: str) -> list[dict]:
    return [{"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]}, {"Name": f"tag:{QUEUE_TAG}", "Values": [queue]}]


def _images(ec2) -> list[dict]:
    return ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]}])["Images"]


def _snapshots(ec2, images: list[dict]) -> list[str]:
    """The images' snapshots, and any snapshot left tagged as a worker image's (by a bake, or an image
    deregistered before)."""
    of_images = {m["Ebs"]["SnapshotId"] for image in images for m in image.get("BlockDeviceMappings", [])
                 if m.get("Ebs", {}).get("SnapshotId")}
    tagged = {s["SnapshotId"] for page in ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]}]) for s in page["Snapshots"]}
    return sorted(of_images | tagged)


def _reply_queues(sqs: SQSService, stack: Stack) -> list[str]:
    prefix = stack.outputs.get("ReplyQueuePrefix", "")
    if not prefix:
        return []
    keep = {stack.outputs.get("RequestQueue"), stack.outputs.get("DeadLetterQueue")}
    return [url for url in sqs.queue_urls(prefix)
            if url.rstrip("/").rsplit("/", 1)[-1].startswith(prefix) and url.rstrip("/").rsplit("/", 1)[-1] not in keep]


MANAGED_POLICIES = ("ClientPolicy", "ScalerPolicy")  # outputs: the stack's policies that people attach
OWN_ROLES = ("WorkerRole", "ScalerRole")  # outputs: the stack's roles (CloudFormation detaches from them)


def _attached(iam, stack: Stack) -> dict[str, list[tuple[str, str]]]:
    """The users, groups and roles outside the stack that its managed policies are attached to."""
    own_roles = {stack.outputs[key].rsplit("/", 1)[-1] for key in OWN_ROLES if stack.outputs.get(key)}
    found: dict[str, list[tuple[str, str]]] = {}
    for key in MANAGED_POLICIES:
        arn = stack.outputs.get(key)
        if not arn:
            continue
        holders: list[tuple[str, str]] = []
        for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
            holders += [("user", u["UserName"]) for u in page.get("PolicyUsers", [])]
            holders += [("group", g["GroupName"]) for g in page.get("PolicyGroups", [])]
            holders += [("role", r["RoleName"]) for r in page.get("PolicyRoles", []) if r["RoleName"] not in own_roles]
        if holders:
            found[arn] = holders
    return found


def _detach(iam, attached: dict[str, list[tuple[str, str]]]) -> list[str]:
    detached = []
    for arn, holders in attached.items():
        for kind, name in holders:
            try:
                if kind == "user":
                    iam.detach_user_policy(UserName=name, PolicyArn=arn)
                elif kind == "group":
                    iam.detach_group_policy(GroupName=name, PolicyArn=arn)
                else:
                    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
            detached.append(f"{kind} {name}")
    return detached


def inventory(cfg: Config, stack: Stack, *, ec2=None, iam=None, sqs: SQSService | None = None) -> Inventory:
    ec2 = ec2 or aws.client(cfg, "ec2")
    iam = iam or aws.client(cfg, "iam")
    sqs = sqs or SQSService(cfg)
    queue = stack.outputs.get("RequestQueue", "")
    return Inventory(
        stack=stack,
        controller=stack.outputs.get("Controller") or None,
        workers=_instances(ec2, _worker_filters(queue)) if queue else [],
        builders=_instances(ec2, [{"Name": f"tag:{ROLE_TAG}", "Values": [BUILDER_ROLE]}]),
        images=(images := _images(ec2)),
        snapshots=_snapshots(ec2, images),
        reply_queues=_reply_queues(sqs, stack),
        attached=_attached(iam, stack),
    )


def _empty_bucket(s3, bucket: str) -> int:
    """Deletes every object version, delete marker and unfinished upload; returns how many versions went."""
    removed = 0
    try:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            entries = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(entries), MAX_DELETE_OBJECTS):
                chunk = entries[start:start + MAX_DELETE_OBJECTS]
                response = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                errors = response.get("Errors", [])
                if errors:
                    raise RuntimeError(f"s3://{bucket}: {len(errors)} object(s) could not be deleted, e.g. "
                                       f"{errors[0].get('Key')}: {errors[0].get('Code')} {errors[0].get('Message')}")
                removed += len(chunk)
    except ClientError as exc:
        if bucket_is_missing(exc):
            return removed
        raise
    return removed


@dataclass
class Removed:
    controller: str | None = None
    instances: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reply_queues: list[str] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)  # bucket -> versions deleted
    detached_from: list[str] = field(default_factory=list)  # "user NAME", "group NAME", "role NAME"
    stack: str = ""
    leftovers: list[str] = field(default_factory=list)  # what is still there afterwards (should be none)


def teardown(cfg: Config, found: Inventory, say: Callable[[str], None] = print, *, cfn=None, ec2=None,
             autoscaling=None, s3=None, iam=None, sqs: SQSService | None = None, poll: float = INSTANCE_POLL_SECONDS,
             sleep: Callable[[float], None] = time.sleep) -> Removed:
    cfn = cfn or aws.client(cfg, "cloudformation")
    ec2 = ec2 or aws.client(cfg, "ec2")
    iam = iam or aws.client(cfg, "iam")
    autoscaling = autoscaling or aws.client(cfg, "autoscaling")
    s3 = s3 or aws.client(cfg, "s3")
    sqs = sqs or SQSService(cfg)
    stack = found.stack
    removed = Removed()
    waiter_config = {"Delay": poll, "MaxAttempts": INSTANCE_WAIT_ATTEMPTS}

    # 1. Nothing may launch workers while the rest goes.
    if found.controller:
        ec2.stop_instances(InstanceIds=[found.controller])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[found.controller], WaiterConfig=waiter_config)
        removed.controller = found.controller
        say(f"stopped the controller {found.controller}: its scaler has ended")
    else:
        say("no controller in this stack: if `imgrec scaler` (or the desktop app's scaler) runs elsewhere "
            "against it, it fails from here on and should be stopped")
    group = stack.outputs.get("AutoScalingGroup")
    if group:
        try:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, MaxSize=0,
                                                  DesiredCapacity=0)
            say(f"Auto Scaling group {group}: held at 0 instances")
        except ClientError as exc:
            say(f"Auto Scaling group {group}: could not hold it at 0 ({exc.response['Error'].get('Message')})")

    # 2. Instances, running or stopped (the group's too: their tags are the same), and those seen before
    #    that the group has begun to terminate.
    queue = found.queue
    instances = _instances(ec2, _worker_filters(queue)) if queue else []
    instances += _instances(ec2, [{"Name": f"tag:{ROLE_TAG}", "Values": [BUILDER_ROLE]}])
    live = sorted({i["InstanceId"] for i in instances})
    ids = sorted(set(live) | {i["InstanceId"] for i in found.workers + found.builders})
    if live:
        ec2.terminate_instances(InstanceIds=live)
    if ids:
        say(f"terminating {len(ids)} instance(s): {', '.join(ids)}")
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=waiter_config)
        removed.instances = ids

    # 3. Baked images and their snapshots.
    images = _images(ec2)
    for image in images:
        ec2.deregister_image(ImageId=image["ImageId"])
        removed.images.append(image["ImageId"])
    for snapshot in _snapshots(ec2, images):
        try:
            ec2.delete_snapshot(SnapshotId=snapshot)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                raise
        removed.snapshots.append(snapshot)
    if removed.images or removed.snapshots:
        say(f"deregistered {len(removed.images)} image(s) ({', '.join(removed.images)}) and deleted "
            f"{len(removed.snapshots)} snapshot(s)")

    # 4. Reply queues: every one with the stack's prefix.
    for url in _reply_queues(sqs, stack):
        sqs.delete_queue(url)
        removed.reply_queues.append(url.rstrip("/").rsplit("/", 1)[-1])
    if removed.reply_queues:
        say(f"deleted {len(removed.reply_queues)} reply queue(s): {', '.join(removed.reply_queues)}")

    # 5. Buckets, emptied of every version.
    for bucket in found.buckets:
        removed.objects[bucket] = _empty_bucket(s3, bucket)
        say(f"emptied s3://{bucket}: {removed.objects[bucket]} object version(s) and delete marker(s)")

    # 6. The stack's policies, from those outside it that were given them.
    removed.detached_from = _detach(iam, _attached(iam, stack))
    if removed.detached_from:
        say(f"detached the stack's policies from {', '.join(removed.detached_from)}")

    # 7. The stack.
    events = Events(cfn, stack.id).skip()
    cfn.delete_stack(StackName=stack.id)
    say(f"deleting stack {stack.name}:")
    wait(cfn, stack.id, say, events=events, sleep=sleep, poll=poll)
    removed.stack = stack.name

    # 8. What is left (nothing, when all went well).
    removed.leftovers = leftovers(cfg, stack, cfn=cfn, ec2=ec2, s3=s3, sqs=sqs)
    return removed


def _queue_exists(sqs: SQSService, name: str) -> bool:
    """Asked afresh (SQSService remembers the URLs it has looked up)."""
    try:
        sqs.client.get_queue_url(QueueName=name)
        return True
    except ClientError as exc:
        if queue_is_missing(exc):
            return False
        raise


def leftovers(cfg: Config, stack: Stack, *, cfn, ec2, s3, sqs: SQSService) -> list[str]:
    """Anything of the deployment that still exists: tagged instances, images and snapshots, its buckets,
    queues and stack."""
    left: list[str] = []
    queue = stack.outputs.get("RequestQueue", "")
    left += [f"instance {i['InstanceId']} ({i['State']['Name']})" for i in
             (_instances(ec2, _worker_filters(queue)) if queue else [])
             + _instances(ec2, [{"Name": f"tag:{ROLE_TAG}", "Values": [BUILDER_ROLE]}])]
    left += [f"image {i['ImageId']}" for i in _images(ec2)]
    left += [f"snapshot {snapshot}" for snapshot in _snapshots(ec2, [])]
    for key in ("InputBucket", "OutputBucket"):
        bucket = stack.outputs.get(key)
        if not bucket:
            continue
        try:
            s3.head_bucket(Bucket=bucket)
            left.append(f"bucket {bucket}")
        except ClientError as exc:
            if not bucket_is_missing(exc):
                raise
    for key in ("RequestQueue", "DeadLetterQueue"):
        name = stack.outputs.get(key)
        if name and _queue_exists(sqs, name):
            left.append(f"queue {name}")
    left += [f"queue {url.rsplit('/', 1)[-1]}" for url in _reply_queues(sqs, stack)]
    if describe(cfn, stack.id) is not None:
        left.append(f"stack {stack.name}")
    return left
