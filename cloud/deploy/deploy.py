"""`imgrec deploy`: create or update the stack through a change set, wait, write the settings.

A change set is CloudFormation's plan: what it would add, modify (and whether it replaces) and remove.
``--dry-run`` prints it and applies nothing (for a new stack, the empty stack a plan needs is removed
again). Otherwise the plan is executed and the stack's events are printed until it is done; a failure
rolls back, and the reasons come from the events. Then the stack's outputs go into the user's config.

The parameters come from the configuration (instance type, queue behaviour, input expiry) and from the
command line; what neither gives keeps its value from the previous deployment (the network, the worker
image, the controller), or on a first deployment is looked up: the default VPC's subnets.

What a worker and the controller boot with is written here, by the code that writes it everywhere
else (``cloud/ami/user_data.py``; the config file's settings for the scaler), and passed to the
template as parameters. It names the buckets and queues, which exist only once the stack does: so a
first deployment that already has a worker image is two plans, the stack first, then the image.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cloud.ami.user_data import user_data as worker_user_data
from cloud.deploy import controller
from cloud.deploy import settings as config_file
from cloud.deploy.stack import EMPTY_AFTER_FAILED_CREATE, Events, Stack, StackError, describe, template_body, wait
from shared import aws
from shared.config import Config

CAPABILITIES = ["CAPABILITY_IAM"]  # the stack makes roles and policies (CloudFormation names them)
STACK_TAG = "imgrec:stack"
CHANGE_SET_POLL_SECONDS = 2.0
CHANGE_SET_WAIT_SECONDS = 300.0
MAX_PARAMETER_BYTES = 4096  # CloudFormation's limit on one parameter value
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
USER_DATA = ("WorkerUserData", "ControllerUserData")  # shown by size, not text, in the plan
DEFAULT_ROOT_DEVICE = "/dev/xvda"  # Amazon Linux's
MIN_ROOT_GIB = 8
CONTROLLER_TYPES = {"x86_64": "t3.micro", "arm64": "t4g.micro"}  # it only calls AWS APIs


class DeployError(RuntimeError):
    """The deployment cannot go ahead; the message says what to do."""


@dataclass(frozen=True)
class Request:
    """What the command line asks for beyond the configuration; None: keep what the stack has."""

    stack_name: str
    subnets: tuple[str, ...] = ()
    image: str | None = None
    controller: bool | None = None
    s3_endpoint: bool | None = None
    dry_run: bool = False


@dataclass
class Outcome:
    stack: Stack | None  # None after a dry run
    changes: list[dict] = field(default_factory=list)
    applied: bool = False


# --- parameters --------------------------------------------------------------------------------------

def _network(ec2, request: Request, cfg: Config, previous: Stack | None) -> tuple[str, list[str]]:
    """(VPC id, subnet ids): given on the command line, else the stack's own, else cfg.subnet_id, else the
    default VPC's default subnets."""
    subnets = list(request.subnets)
    if not subnets and previous is not None:
        return previous.parameters["VpcId"], previous.parameters["SubnetIds"].split(",")
    if not subnets and cfg.subnet_id:
        subnets = [cfg.subnet_id]
    if subnets:
        found = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        vpcs = sorted({s["VpcId"] for s in found})
        if len(vpcs) != 1:
            raise DeployError(f"the subnets {', '.join(subnets)} must all be in one VPC (they are in "
                              f"{', '.join(vpcs)})")
        return vpcs[0], subnets
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise DeployError(f"there is no default VPC in {cfg.region}: name the subnets for the workers with "
                          "--subnet SUBNET_ID (repeat it for more; they need a route to the internet or a NAT)")
    vpc = vpcs[0]["VpcId"]
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                          {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    if not found:
        raise DeployError(f"the default VPC {vpc} has no default subnets: name them with --subnet SUBNET_ID")
    return vpc, sorted(s["SubnetId"] for s in found)


@dataclass(frozen=True)
class Image:
    """What the launch templates need to know of the worker image."""

    id: str
    arch: str  # x86_64 | arm64
    root_device: str
    root_gib: int

    @classmethod
    def describe(cls, ec2, image_id: str) -> Image:
        found = ec2.describe_images(ImageIds=[image_id])["Images"]
        if not found:
            raise DeployError(f"there is no image {image_id} in this region (make one with `imgrec ami bake`)")
        image = found[0]
        root = image.get("RootDeviceName", DEFAULT_ROOT_DEVICE)
        sizes = [m["Ebs"].get("VolumeSize", 0) for m in image.get("BlockDeviceMappings", [])
                 if m.get("DeviceName") == root and "Ebs" in m]
        return cls(image_id, image.get("Architecture", "x86_64"), root, int(max(sizes, default=0)))


_ARM_FAMILY = re.compile(r"[a-z]+\d+g")  # Graviton: t4g, c7g, m7g, c7gd...; not g4dn or g5 (GPU, x86_64)


def instance_arch(instance_type: str) -> str:
    return "arm64" if _ARM_FAMILY.match(instance_type.split(".", 1)[0]) else "x86_64"


def _image_parameters(cfg: Config, image: Image | None) -> dict[str, str]:
    """Root device and volume of both launch templates, and a controller of the image's architecture."""
    if image is None:
        return {}
    if instance_arch(cfg.instance_type) != image.arch:
        raise DeployError(f"instance_type = {cfg.instance_type!r} (from {cfg.source_of('instance_type')}) is "
                          f"{instance_arch(cfg.instance_type)} but the worker image {image.id} is {image.arch}: "
                          f"choose an instance type of its architecture")
    return {"RootDeviceName": image.root_device, "RootVolumeGiB": str(max(image.root_gib, MIN_ROOT_GIB)),
            "ControllerInstanceType": CONTROLLER_TYPES[image.arch]}


def worker_config(cfg: Config, outputs: dict[str, str]) -> Config:
    """The configuration the stack's workers run with: this one, with the stack's names."""
    names = {name: outputs[key] for name, key in config_file.FROM_OUTPUTS.items() if outputs.get(key)}
    return cfg.replace(source="the deployed stack", **names)


def _boot_scripts(cfg: Config, previous: Stack, image: str, with_controller: bool) -> dict[str, str]:
    """WorkerUserData and ControllerUserData for the stack's names (empty without an image)."""
    if not image:
        return {"WorkerUserData": "", "ControllerUserData": ""}
    scaler = config_file.deployed_settings(cfg.replace(endpoint_url=None), previous.outputs)
    scaler.update(ami_id=image, max_workers=cfg.max_workers)
    scripts = {"WorkerUserData": worker_user_data(worker_config(cfg, previous.outputs)),
               "ControllerUserData": controller.user_data(scaler) if with_controller else ""}
    for name, text in scripts.items():
        if len(text.encode()) > MAX_PARAMETER_BYTES:
            raise DeployError(f"{name} is {len(text.encode())} bytes, over CloudFormation's "
                              f"{MAX_PARAMETER_BYTES}-byte limit for a parameter")
    return scripts


def parameters(cfg: Config, request: Request, previous: Stack | None, ec2) -> dict[str, str]:
    """The template's parameters for this deployment. Without a stack yet (``previous`` None), there is
    no image nor controller: they need the stack's names."""
    vpc, subnets = _network(ec2, request, cfg, previous)
    before = previous.parameters if previous is not None else {}
    available = request.image or cfg.ami_id or before.get("WorkerImageId", "")
    image = available if previous is not None else ""
    if request.s3_endpoint is None:
        route_tables = before.get("RouteTableIds", "")
    elif request.s3_endpoint:
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
        route_tables = ",".join(sorted(t["RouteTableId"] for t in tables))
    else:
        route_tables = ""
    wanted = before.get("WithController") == "true" if request.controller is None else request.controller
    if wanted and not available:
        raise DeployError("the controller boots from the worker image, and there is none yet: make it with "
                          "`imgrec ami bake`, then `imgrec deploy --image AMI_ID --controller`")
    with_controller = wanted and previous is not None
    return {
        "VpcId": vpc,
        "SubnetIds": ",".join(subnets),
        "RouteTableIds": route_tables,
        "WorkerImageId": image,
        "WorkerInstanceType": cfg.instance_type,
        "MaxWorkers": str(cfg.max_workers),
        "VisibilityTimeout": str(cfg.visibility_timeout),
        "MaxReceives": str(cfg.max_receives),
        "InputExpiryDays": str(cfg.input_expiry_days),
        "WithController": "true" if with_controller else "false",
        **(_boot_scripts(cfg, previous, image, with_controller) if previous is not None
           else {"WorkerUserData": "", "ControllerUserData": ""}),
        **_image_parameters(cfg, Image.describe(ec2, image) if image else None),
    }


# --- the change set ----------------------------------------------------------------------------------

def _wait_for_change_set(cfn, stack: str, name: str, sleep: Callable[[float], None]) -> dict:
    deadline = time.monotonic() + CHANGE_SET_WAIT_SECONDS
    while True:
        found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        if found["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return found
        if time.monotonic() > deadline:
            raise StackError(f"change set {name} is still {found['Status']} after {CHANGE_SET_WAIT_SECONDS:.0f} s")
        sleep(CHANGE_SET_POLL_SECONDS)


def _changes(cfn, stack: str, name: str, first: dict) -> list[dict]:
    changes = list(first.get("Changes", []))
    token = first.get("NextToken")
    while token:
        page = cfn.describe_change_set(StackName=stack, ChangeSetName=name, NextToken=token)
        changes.extend(page.get("Changes", []))
        token = page.get("NextToken")
    return [c["ResourceChange"] for c in changes if "ResourceChange" in c]


def change_lines(changes: list[dict]) -> list[str]:
    """One line per resource change: action, type, logical id, and for a modification whether it replaces."""
    lines = []
    for change in changes:
        replacement = change.get("Replacement")
        note = {"True": "  (replaced: a new one is made)", "Conditional": "  (may be replaced)"}.get(replacement, "")
        lines.append(f"  {change.get('Action', '?'):<8} {change.get('ResourceType', ''):<34} "
                     f"{change.get('LogicalResourceId', '')}{note}")
    return lines


def _shown(params: dict[str, str]) -> str:
    return ", ".join(f"{k}=" + (f"({len(v.encode())} bytes)" if k in USER_DATA and v else v or "(none)")
                     for k, v in params.items())


@dataclass
class _Cloud:
    cfg: Config
    cfn: object
    say: Callable[[str], None]
    sleep: Callable[[float], None]
    poll: float | None

    def wait(self, stack_id: str, events: Events | None = None) -> str:
        extra = {"poll": self.poll} if self.poll is not None else {}
        return wait(self.cfn, stack_id, self.say, events=events, sleep=self.sleep, **extra)


def _plan_and_apply(cloud: _Cloud, stack_name: str, params: dict[str, str], previous: Stack | None,
                    dry_run: bool) -> Outcome:
    cfn, say = cloud.cfn, cloud.say
    kind = "UPDATE" if previous is not None else "CREATE"
    name = f"imgrec-{time.strftime('%Y%m%d-%H%M%S')}"
    target = cloud.cfg.endpoint_url or f"AWS {cloud.cfg.region}"
    say(f"planning stack {stack_name} ({'update' if previous else 'new'}) at {target}: change set {name}")
    say(f"  parameters: {_shown(params)}")
    created = cfn.create_change_set(
        StackName=stack_name, ChangeSetName=name, ChangeSetType=kind, TemplateBody=template_body(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=CAPABILITIES, Tags=[{"Key": STACK_TAG, "Value": stack_name}],
        Description="imgrec deploy")
    stack_id = created["StackId"]
    found = _wait_for_change_set(cfn, stack_name, name, cloud.sleep)
    changes = _changes(cfn, stack_name, name, found) if found["Status"] == "CREATE_COMPLETE" else []
    reason = found.get("StatusReason") or ""
    if found["Status"] == "FAILED" and not any(text in reason for text in NO_CHANGES):
        cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
        raise StackError(f"CloudFormation could not plan the change: {reason}")
    if not changes:
        say("  no changes: the stack already is what the template and these parameters describe")
    else:
        say(f"  {len(changes)} change(s):")
        for line in change_lines(changes):
            say(line)
    if dry_run or not changes:
        cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
        if kind == "CREATE":
            cfn.delete_stack(StackName=stack_id)  # the empty stack (REVIEW_IN_PROGRESS) the plan needed
        if dry_run:
            say("dry run: nothing was applied")
            return Outcome(stack=None, changes=changes)
        return Outcome(stack=describe(cfn, stack_id), changes=changes)

    events = Events(cfn, stack_id).skip()
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    say(f"applying change set {name}:")
    cloud.wait(stack_id, events)
    return Outcome(stack=describe(cfn, stack_id), changes=changes, applied=True)


def deploy(cfg: Config, request: Request, say: Callable[[str], None] = print, *, cfn=None, ec2=None,
           sleep: Callable[[float], None] = time.sleep, poll: float | None = None) -> Outcome:
    """Plans, shows and (unless a dry run) applies the stack; returns it as it ends up."""
    cloud = _Cloud(cfg, cfn or aws.client(cfg, "cloudformation"), say, sleep, poll)
    ec2 = ec2 or aws.client(cfg, "ec2")
    stack_name = request.stack_name
    previous = describe(cloud.cfn, stack_name)
    if previous is not None and previous.status in EMPTY_AFTER_FAILED_CREATE:
        if request.dry_run:
            raise DeployError(f"stack {stack_name} is {previous.status} from a failed first deployment: it holds "
                              "nothing; a deployment deletes it and starts again")
        say(f"stack {stack_name} is {previous.status} (a failed first deployment holds nothing): deleting it")
        cloud.cfn.delete_stack(StackName=previous.id)
        cloud.wait(previous.id)
        previous = None
    if previous is not None and previous.status == "REVIEW_IN_PROGRESS":
        previous = None  # an unexecuted plan for a new stack: plan again
    if request.image or cfg.ami_id:  # a wrong image or instance type fails here, before anything is made
        _image_parameters(cfg, Image.describe(ec2, request.image or cfg.ami_id))
    outcome = _plan_and_apply(cloud, stack_name, parameters(cfg, request, previous, ec2), previous, request.dry_run)
    later = previous is None and (request.image or cfg.ami_id or request.controller)
    if later and not request.dry_run:
        say("the stack exists: now the worker image" + (" and the controller" if request.controller else "")
            + ", which boot with its names")
        previous = outcome.stack
        outcome = _plan_and_apply(cloud, stack_name, parameters(cfg, replace(request, subnets=()), previous, ec2),
                                  previous, False)
    elif later:
        say("(the worker image and the controller come in a second plan, once the stack exists)")
    return outcome
