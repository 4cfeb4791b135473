"""`imgrec deploy` and `imgrec teardown`: the handlers (see deploy.py and teardown.py for what they do)."""

from __future__ import annotations

import argparse
import functools
import sys

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from cloud.deploy import settings as config_file
from cloud.deploy.deploy import DeployError, Request
from cloud.deploy.deploy import deploy as deploy_stack
from cloud.deploy.stack import DEFAULT_STACK_NAME, StackError, describe
from cloud.deploy.teardown import inventory
from cloud.deploy.teardown import teardown as remove_all
from shared import aws, target
from shared.config import Config

EXIT_FAILED = 1  # CloudFormation failed (and rolled back), or something of ours is left
EXIT_ERROR = 2  # could not run: unreachable endpoint, no credentials, refused, not confirmed


def _one_line_errors(handler):
    """The errors a user can meet become one line on stderr, never a traceback."""
    @functools.wraps(handler)
    def wrapper(cfg: Config, args: argparse.Namespace) -> int:
        name = handler.__name__
        try:
            if cfg.endpoint_url:
                aws.probe(cfg.endpoint_url)
            return handler(cfg, args)
        except StackError as exc:
            print(f"imgrec {name}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except (DeployError, aws.EndpointUnreachable) as exc:
            print(f"imgrec {name}: {exc}", file=sys.stderr)
        except NoCredentialsError:
            print(f"imgrec {name}: no AWS credentials found (set AWS_PROFILE or run `aws configure`)",
                  file=sys.stderr)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            print(f"imgrec {name}: {target.describe(cfg)}: {error.get('Code')}: {error.get('Message', exc)}",
                  file=sys.stderr)
        except BotoCoreError as exc:
            print(f"imgrec {name}: {target.describe(cfg)}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return wrapper


def _say(line: str) -> None:
    print(line, flush=True)


@_one_line_errors
def deploy(cfg: Config, args: argparse.Namespace) -> int:
    request = Request(stack_name=args.stack_name or DEFAULT_STACK_NAME, subnets=tuple(args.subnet or ()),
                      image=args.image, controller=args.controller, s3_endpoint=args.s3_endpoint,
                      dry_run=args.dry_run)
    outcome = deploy_stack(cfg, request, _say)
    if outcome.stack is None:
        return 0
    stack = outcome.stack
    path = config_file.config_path(getattr(args, "config", None))
    settings = config_file.deployed_settings(cfg, stack.outputs)
    config_file.write(path, settings, config_file.heading(stack.name, target.describe(cfg)))
    out = stack.outputs
    _say(f"stack {stack.name}: {stack.status}")
    for label, key in (("input bucket", "InputBucket"), ("output bucket", "OutputBucket"),
                       ("request queue", "RequestQueue"), ("dead-letter queue", "DeadLetterQueue"),
                       ("worker profile", "WorkerInstanceProfile"), ("launch template", "LaunchTemplate"),
                       ("Auto Scaling group", "AutoScalingGroup"), ("security group", "SecurityGroup"),
                       ("subnets", "SubnetIds"), ("worker image", "WorkerImage"), ("controller", "Controller"),
                       ("S3 endpoint", "S3GatewayEndpoint"), ("users' policy", "ClientPolicy"),
                       ("scaler's policy", "ScalerPolicy")):
        if out.get(key):
            _say(f"  {label + ':':<20} {out[key]}")
    _say(f"settings written to {path} (fleet = {settings['fleet']!r}; the previous file is kept as {path.name}.bak)")
    if not out.get("WorkerImage"):
        _say("next: `imgrec model publish` (the model, for the workers), `imgrec ami bake` (the worker image), "
             "then `imgrec deploy --image AMI_ID` (and --controller to run the scaler on AWS, or run "
             "`imgrec scaler` yourself)")
    elif not out.get("Controller"):
        _say("next: `imgrec scaler` runs the autoscaler here, or `imgrec deploy --controller` on a small instance")
    return 0


def _confirmed(stack_name: str) -> bool:
    if not sys.stdin.isatty():
        print(f"imgrec teardown: not asked at a terminal: pass --yes to remove stack {stack_name} and all of the "
              "above", file=sys.stderr)
        return False
    try:
        answer = input(f"type the stack name ({stack_name}) to remove all of this for good: ")
    except EOFError:
        return False
    return answer.strip() == stack_name


@_one_line_errors
def teardown(cfg: Config, args: argparse.Namespace) -> int:
    cfn = aws.client(cfg, "cloudformation")
    name = args.stack_name or DEFAULT_STACK_NAME
    stack = describe(cfn, name)
    path = config_file.config_path(getattr(args, "config", None))
    if stack is None:
        print(f"imgrec teardown: there is no stack {name} at {target.describe(cfg)}: nothing to remove",
              file=sys.stderr)
        if config_file.remove(path, name):
            print(f"its settings are taken out of {path}", file=sys.stderr)
        return EXIT_ERROR
    found = inventory(cfg, stack)
    _say(f"imgrec teardown: stack {stack.name} ({stack.status}) at {target.describe(cfg)}. This removes, for good:")
    for line in found.lines():
        _say(f"  - {line}")
    if not args.yes and not _confirmed(stack.name):
        print("imgrec teardown: not confirmed: nothing was removed", file=sys.stderr)
        return EXIT_ERROR
    removed = remove_all(cfg, found, _say, cfn=cfn)
    _say(f"removed: stack {removed.stack}"
         + (f", controller {removed.controller}" if removed.controller else "")
         + f", {len(removed.instances)} instance(s), {len(removed.images)} image(s) and "
           f"{len(removed.snapshots)} snapshot(s), {len(removed.reply_queues)} reply queue(s), "
           f"{sum(removed.objects.values())} object version(s) from {len(removed.objects)} bucket(s)")
    if config_file.remove(path, stack.name):
        _say(f"its settings are taken out of {path} (the previous file is kept as {path.name}.bak)")
    if removed.leftovers:
        print("imgrec teardown: still there: " + ", ".join(removed.leftovers), file=sys.stderr)
        return EXIT_FAILED
    _say("nothing of the deployment remains")
    return 0
