"""`imgrec`: the headless commands. Each handler is imported only when its command runs,
so `imgrec classify` never imports torch and `imgrec worker` never imports Qt."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from shared.config import DEVICES, ENGINES, UPLOADS, ConfigError, load_config

# command -> "module:function"; each handler is handler(cfg, args) -> exit code
HANDLERS = {
    "classify": "cloud.client_commands:classify",
    "results": "cloud.client_commands:results",
    "organize": "cloud.organize_commands:undo",
    "provision": "cloud.client_commands:provision",
    "status": "cloud.client_commands:status",
    "up": "cloud.local.embedded:up_command",
    "predict": "cloud.worker.commands:predict",
    "worker": "cloud.worker.commands:worker",
    "scaler": "cloud.scaler.commands:scaler",
    "ami": "cloud.ami.commands:ami",
    "model": "cloud.worker.commands:model",
    "deploy": "cloud.deploy.commands:deploy",
    "teardown": "cloud.deploy.commands:teardown",
}


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target")
    group.add_argument("--config", metavar="TOML", help="settings file (default ~/.config/imgrec/config.toml)")
    group.add_argument("--endpoint", dest="endpoint_url", metavar="URL",
                       help="S3/SQS endpoint, e.g. a running `imgrec up` (default: AWS, or an embedded cloud)")
    group.add_argument("--profile", help="AWS profile")
    group.add_argument("--region", help="AWS region")
    group.add_argument("-v", "--verbose", action="store_true", help="log more")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgrec", description="Elastic image recognition: S3 + SQS + classifier workers."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classify", help="upload images, classify them through the cloud, print/save results")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (recursive)")
    p.add_argument("--out", metavar="CSV", help="write results here (default: print a table)")
    p.add_argument("--local", action="store_true", help="always use an embedded local cloud for this run")
    p.add_argument("--workers", type=int, metavar="N", help="embedded cloud: fixed number of local workers")
    p.add_argument("--max-workers", type=int, metavar="N", help="embedded cloud: the autoscaler's cap")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--timeout", type=float, dest="result_timeout", metavar="S",
                   help="give up after this many seconds without a new result")
    p.add_argument("--upload", choices=UPLOADS,
                   help="original (default): upload each file as it is; preview: a downscaled JPEG, "
                        "the original stays on disk")
    p.add_argument("--organize", metavar="DEST",
                   help="then copy each image into DEST/<label>/ (DEST/_uncertain/, DEST/_failed/)")
    p.add_argument("--move", action="store_true", help="with --organize: move the images instead of copying")
    p.add_argument("--min-score", type=float, default=0.0, metavar="S",
                   help="with --organize: images scoring under S go to DEST/_uncertain/")
    p.add_argument("--dry-run", action="store_true",
                   help="with --organize: show how many files would go to each folder, touch nothing")
    p.add_argument("--xmp", action="store_true",
                   help="write each label as a keyword into an XMP sidecar beside the image (photo.jpg.xmp)")
    p.add_argument("--xmp-top5", type=float, metavar="S",
                   help="with --xmp: also the top-5 labels scoring at least S")
    p.add_argument("--restart", action="store_true",
                   help="do not resume an interrupted job of these files: start a new one (the old "
                        "job's unsent uploads are removed)")
    _common(p)

    p = sub.add_parser("results", help="re-collect a job's results from the output bucket")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--out", metavar="CSV")
    p.add_argument("--wait", type=float, nargs="?", const=600.0, default=0.0, metavar="S",
                   help="while requests are in progress, wait for them (up to S seconds, default 600)")
    _common(p)

    p = sub.add_parser("organize", help="undo an `imgrec classify --organize` (puts moved files back)")
    p.add_argument("--undo", metavar="DEST", required=True, help="the folder that was organized into")

    p = sub.add_parser("predict", help="classify in this process, no cloud: the reference for the cloud path")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", metavar="CSV")
    p.add_argument("--model", help="model name (default efficientnet-lite0)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--engine", choices=ENGINES, help="onnx (ONNX Runtime, no torch), torch (the reference) "
                   "or auto (default: onnx)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--config", metavar="TOML")

    p = sub.add_parser("up", help="run the embedded local cloud in the foreground")
    p.add_argument("--port", type=int, help="moto server port (default: a free one)")
    p.add_argument("--workers", type=int, metavar="N", help="a fixed number of workers instead of the autoscaler")
    p.add_argument("--min-workers", type=int, dest="min_workers", metavar="N")
    p.add_argument("--max-workers", type=int, dest="max_workers", metavar="N")
    p.add_argument("--scaler-log", metavar="PATH", help="append one JSON object per scaler tick")
    p.add_argument("--model")
    p.add_argument("--config", metavar="TOML")
    p.add_argument("-v", "--verbose", action="store_true")

    p = sub.add_parser("worker", help="run a classifier worker (long-poll the request queue)")
    p.add_argument("--model")
    p.add_argument("--worker-id", help="name shown in results (default: host-pid)")
    p.add_argument("--status-stdout", action="store_true",
                   help="print one JSON line per state change on stdout, for a supervisor (logs go to stderr)")
    p.add_argument("--idle-timeout", type=float, dest="idle_timeout", metavar="S",
                   help="exit after S seconds with no work (default: never)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--engine", choices=ENGINES, help="onnx (ONNX Runtime, no torch), torch (the reference) "
                   "or auto (default: onnx)")
    _common(p)

    p = sub.add_parser("scaler", help="run the autoscaler loop (fleet chosen by config)")
    p.add_argument("--fleet", choices=["local", "ec2", "asg"])
    p.add_argument("--min-workers", type=int, dest="min_workers", metavar="N")
    p.add_argument("--max-workers", type=int, dest="max_workers", metavar="N")
    p.add_argument("--tick", type=float, dest="scaler_tick", metavar="S")
    p.add_argument("--log-json", metavar="PATH", help="append one JSON object per tick")
    p.add_argument("--once", action="store_true", help="one tick, then exit")
    _common(p)

    p = sub.add_parser("model", help="model bundles for the ONNX engine: export, publish, show")
    p.add_argument("action", choices=["export", "publish", "show"],
                   help="export: torch model -> bundle in the model cache (or --out DIR); publish: the bundle "
                        "-> the output bucket, where workers fetch it; show: the published bundle")
    p.add_argument("--model", help="model name (default efficientnet-lite0)")
    p.add_argument("--out", metavar="DIR", help="export: write the bundle here instead of the model cache")
    p.add_argument("--check", metavar="FOLDER",
                   help="export: images to check ONNX Runtime against torch on (default: the standard workload)")
    p.add_argument("--bundle", metavar="DIR", help="publish: this bundle folder (default: the cached export)")
    _common(p)

    p = sub.add_parser("provision", help="create the buckets and queues (idempotent)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("status", help="queue depth, workers and recent activity")
    p.add_argument("--json", action="store_true")
    p.add_argument("--prune", action="store_true",
                   help="also delete the reply queues of clients that died without closing")
    _common(p)

    p = sub.add_parser("deploy", help="create or update the AWS deployment (a CloudFormation stack); writes its "
                                      "settings into your config")
    p.add_argument("--dry-run", action="store_true", help="print the change set, apply nothing")
    p.add_argument("--stack-name", metavar="NAME", help="the stack (default imgrec)")
    p.add_argument("--subnet", action="append", metavar="SUBNET_ID",
                   help="a subnet for the workers (repeat for more; default: the default VPC's, or the stack's)")
    p.add_argument("--image", metavar="AMI_ID", help="the worker image (default: ami_id, or the stack's)")
    p.add_argument("--controller", action=argparse.BooleanOptionalAction, default=None,
                   help="run `imgrec scaler` on a small instance (needs the image; default: as the stack has it)")
    p.add_argument("--s3-endpoint", action=argparse.BooleanOptionalAction, default=None,
                   help="an S3 gateway endpoint in the VPC (default: as the stack has it, none at first)")
    _common(p)

    p = sub.add_parser("teardown", help="remove the AWS deployment: instances, images, reply queues, bucket "
                                        "contents, then the stack")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--stack-name", metavar="NAME", help="the stack (default imgrec)")
    _common(p)

    from cloud.ami import ARCHES  # a constant only: cloud.ami's package imports nothing

    p = sub.add_parser("ami", help="bake the worker image (EC2) or print its user data")
    p.add_argument("action", choices=["user-data", "bake"], nargs="?", default="user-data")
    p.add_argument("--arch", choices=ARCHES, help="bake: the image's CPU architecture (default x86_64; "
                   "arm64 for Graviton instances)")
    p.add_argument("--gpu", action="store_true", help="bake: on the Deep Learning Base AMI (NVIDIA driver, CUDA) with "
                   "ONNX Runtime's CUDA build")
    p.add_argument("--volume-gib", type=int, dest="volume_gib", metavar="GIB",
                   help="bake: the encrypted gp3 root volume's size (default 16, or the base image's when larger)")
    p.add_argument("--instance-type", dest="builder_instance_type", metavar="TYPE",
                   help="bake: the builder's instance type (default t3.medium, t4g.medium for arm64, g4dn.xlarge "
                        "with --gpu)")
    p.add_argument("--builder-profile", dest="builder_profile", metavar="NAME|ARN",
                   help="bake: an instance profile for the builder; with ec2:CreateTags it tags itself "
                        "imgrec:bake=ok|failed")
    _common(p)
    return parser


# Services keep going when whoever reads their output goes away (a worker whose supervisor died
# still finishes its batch); the one-shot commands end quietly on a closed pipe, like any Unix tool.
LONG_RUNNING = ("worker", "scaler", "up")

CONFIG_FLAGS = ("endpoint_url", "profile", "region", "model", "batch_size", "device", "engine", "idle_timeout",
                "min_workers", "max_workers", "fleet", "scaler_tick", "result_timeout", "upload")


def _flag_names(command: str) -> dict[str, str]:
    """Setting -> the option that sets it in ``command`` (``endpoint_url`` -> ``--endpoint``), for messages."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return {action.dest: max(action.option_strings, key=len)
            for action in subparsers.choices[command]._actions if action.option_strings}  # noqa: SLF001


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in LONG_RUNNING and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `imgrec status --json | head` ends quietly
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "timm"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        overrides = {name: getattr(args, name) for name in CONFIG_FLAGS if hasattr(args, name)}
        cfg = load_config(getattr(args, "config", None), overrides=overrides, flags=_flag_names(args.command))
    except ConfigError as exc:
        print(f"imgrec: configuration error: {exc}", file=sys.stderr)
        return 2
    module_name, func_name = HANDLERS[args.command].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(cfg, args) or 0)
    except ConfigError as exc:
        print(f"imgrec: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imgrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
