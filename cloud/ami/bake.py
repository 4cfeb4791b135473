"""Bakes the worker image: a builder instance installs the torch-free worker, proves it can classify,
reports, and powers off; its stopped volume becomes the image.

1. This checkout's source (``pyproject.toml``, ``shared/``, ``cloud/`` and the smoke test's sample
   photo) goes to the input bucket as ``ami/imgrec-src.tar.gz``, packed reproducibly.
2. A builder boots the latest Amazon Linux 2023 for ``--arch`` (x86_64 or arm64; the public SSM
   parameter), or with ``--gpu`` the Deep Learning Base AMI with NVIDIA's driver, CUDA and cuDNN, on an
   encrypted gp3 root volume of ``ROOT_VOLUME_GIB`` (or the base image's own size when larger). Its
   user data is ``builder.sh`` under a header of presigned URLs, so it needs no credentials: it runs
   ``install-worker.sh`` (``imgrec[worker]``: ONNX Runtime, no torch; the boot script and its cron
   entry), then classifies the sample with the installed worker and the model bundle published in the
   output bucket, and powers off. The image holds no model: workers fetch the published bundle when
   they start (``cloud/worker/models/store.py``), so a new model is a publish, not a new image.
3. The builder reports ``ok`` or ``failed`` (a trap catches every failure) as a tag ``imgrec:bake`` on
   itself, when its instance profile (``--builder-profile``) allows ``ec2:CreateTags``, and as a status
   object written through a presigned URL, which needs nothing. This code polls both every few seconds:
   on ``failed`` it prints the builder's console output and gives up at once, instead of waiting out
   the build timeout; on ``ok`` and stopped it calls ``CreateImage``.
4. The image is tagged with the project version and a hash of what went into it (base image,
   architecture, GPU, volume, boot, the source archive's hash), and named after them. The builder is
   always terminated.

Against the embedded moto server the same calls run, but no instance executes user data: this code
plays the builder's successful part itself (:func:`play_builder`).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import logging
import re
import shlex
import tarfile
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from botocore.exceptions import ClientError

from cloud.ami import ARCHES
from shared import aws
from shared.config import Config, ConfigError
from shared.layout import model_manifest_key, model_weights_key
from shared.s3 import ObjectMissing, S3Service

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

BASE_IMAGE_PARAMETERS = {  # (arch, gpu) -> the public SSM parameter naming the latest base image
    ("x86_64", False): "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    ("arm64", False): "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
    # ONNX Runtime's CUDA build (onnxruntime-gpu) has Linux wheels for x86_64 only.
    ("x86_64", True): "/aws/service/deeplearning/ami/x86_64/"
                      "base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
}
# The builder's instance type (--instance-type to change it). A GPU build runs its smoke test on the GPU.
BUILDER_INSTANCE_TYPES = {("x86_64", False): "t3.medium", ("arm64", False): "t4g.medium",
                          ("x86_64", True): "g4dn.xlarge"}
ROOT_VOLUME_GIB = 16  # the OS (~2 GiB), imgrec[worker] (~0.3 GiB), pip's unpacking, the model cache
MIN_ROOT_VOLUME_GIB = 8
SOURCE_KEY = "ami/imgrec-src.tar.gz"
STATUS_PREFIX = "ami/status/"  # + a build id: the builder's outcome and the tail of its log
STATUS_CONTENT_TYPE = "text/plain"
BAKE_TAG = "imgrec:bake"  # ok | failed, on the builder
URL_SECONDS = 2 * 3600  # presigned URLs outlive the build
BUILD_TIMEOUT_SECONDS = 45 * 60
POLL_SECONDS = 5.0
LOCAL_POLL_SECONDS = 0.2
CONSOLE_WAIT_SECONDS = 45.0  # after a failure: EC2 may show the console output only once the builder stops
MAX_USER_DATA_BYTES = 16 * 1024  # EC2's limit on user data, before base64
SMOKE_IMAGE = "samples/coffee.png"
SMOKE_LABEL = "espresso"  # in the top 5 of any ImageNet-1k model; the default model gives it 0.95
BOOT = "cron"  # how the image starts its worker (README: "The worker image")


class BakeFailed(Exception):
    """The image could not be made; ``console`` and ``log`` hold what the builder left to read."""

    def __init__(self, message: str, *, console: str = "", log: str = ""):
        super().__init__(message)
        self.console = console
        self.log = log

    def report(self) -> str:
        parts = [f"imgrec ami bake: {self}"]
        if self.log:
            parts.append(f"--- the builder's log (tail) ---\n{self.log.rstrip()}")
        if self.console:
            parts.append(f"--- the builder's console output ---\n{self.console.rstrip()}")
        return "\n".join(parts)


@dataclass(frozen=True)
class BakeOptions:
    arch: str = "x86_64"
    gpu: bool = False
    volume_gib: int = ROOT_VOLUME_GIB
    instance_type: str | None = None  # the builder's; default BUILDER_INSTANCE_TYPES
    builder_profile: str | None = None  # an instance profile for the builder (name or ARN), to tag itself

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ConfigError(f"--arch {self.arch}: must be one of {', '.join(ARCHES)}")
        if (self.arch, self.gpu) not in BASE_IMAGE_PARAMETERS:
            raise ConfigError(f"--gpu with --arch {self.arch}: ONNX Runtime's CUDA build has no Linux {self.arch} "
                              "wheel; GPU images are x86_64")
        if self.volume_gib < MIN_ROOT_VOLUME_GIB:
            raise ConfigError(f"--volume-gib {self.volume_gib}: must be at least {MIN_ROOT_VOLUME_GIB}")

    @property
    def base_parameter(self) -> str:
        return BASE_IMAGE_PARAMETERS[(self.arch, self.gpu)]

    @property
    def builder_type(self) -> str:
        return self.instance_type or BUILDER_INSTANCE_TYPES[(self.arch, self.gpu)]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str


def builder_outcome(state: str, tag: str | None, status: str | None) -> Outcome | None:
    """What the builder's instance state, its ``imgrec:bake`` tag and its status object say, or None
    while it is still at work. A reported failure ends the wait at once, stopped or not."""
    if "failed" in (tag, status):
        return Outcome(False, "the builder reported a failure")
    if state in ("shutting-down", "terminated"):
        return Outcome(False, f"the builder is {state}")
    if state == "stopped":
        if "ok" in (tag, status):
            return Outcome(True, "installed and smoke-tested")
        return Outcome(False, "the builder stopped without reporting success")
    return None


# --- what the builder gets --------------------------------------------------------------------------
def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name or info.name.endswith(".pyc"):
        return None
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def source_archive() -> bytes:
    """The package source, as pip installs it, and the smoke test's photo: the same bytes for the same
    files (no times or owners), so its hash says what went into an image."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        for name in ("pyproject.toml", "README.md", SMOKE_IMAGE):
            if (ROOT / name).is_file():
                tar.add(ROOT / name, arcname=f"imgrec/{name}", filter=_reproducible)
        for package in ("shared", "cloud"):
            tar.add(ROOT / package, arcname=f"imgrec/{package}", filter=_reproducible)
    return buffer.getvalue()


def builder_user_data(*, source_url: str, manifest_url: str, weights_url: str, status_url: str, model: str,
                      sha256: str, options: BakeOptions) -> str:
    """``builder.sh`` under a header that sets what it reads."""
    settings = {
        "SOURCE_URL": source_url, "MANIFEST_URL": manifest_url, "WEIGHTS_URL": weights_url,
        "STATUS_URL": status_url, "MODEL": model, "MODEL_SHA256": sha256,
        # A model cache's folder for the bundle: the model's folder in the bucket, then the hash.
        "MODEL_DIR": f"{PurePosixPath(model_manifest_key(model)).parent.name}/{sha256}",
        "SMOKE_IMAGE": SMOKE_IMAGE, "SMOKE_LABEL": SMOKE_LABEL, "SMOKE_DEVICE": "cuda" if options.gpu else "cpu",
        "INSTALL_OPTIONS": "--gpu" if options.gpu else "",
    }
    header = "\n".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    script = (f"#!/bin/bash\n# imgrec worker image builder (imgrec ami bake): cloud/ami/builder.sh with its settings\n"
              f"{header}\n\n{(HERE / 'builder.sh').read_text()}")
    size = len(script.encode())
    if size > MAX_USER_DATA_BYTES:
        raise BakeFailed(f"the builder's user data is {size} bytes, over EC2's limit of {MAX_USER_DATA_BYTES}")
    return script


# --- what the image says about itself ---------------------------------------------------------------
def project_version() -> str:
    """The version in the pyproject.toml that goes into the image (the installed one without a checkout)."""
    try:
        return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("imgrec")
        except PackageNotFoundError:
            return "unknown"


def image_settings(options: BakeOptions, base: str, volume_gib: int, archive: bytes) -> dict[str, str]:
    """Everything that decides what an image holds: two bakes with equal settings make equal images."""
    return {"version": project_version(), "base": base, "arch": options.arch, "gpu": str(options.gpu).lower(),
            "volume_gib": str(volume_gib), "boot": BOOT, "source": hashlib.sha256(archive).hexdigest()}


def settings_hash(settings: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def image_name(settings: dict[str, str]) -> str:
    gpu = "-gpu" if settings["gpu"] == "true" else ""
    name = f"imgrec-worker-{settings['version']}-{settings['arch']}{gpu}-{time.strftime('%Y%m%d-%H%M%S')}"
    return re.sub(r"[^A-Za-z0-9()\[\]./\-'@_]", "-", name)  # the characters an image name may hold


# --- talking to EC2 ---------------------------------------------------------------------------------
def _base_image(ssm, options: BakeOptions, region: str) -> str:
    try:
        return ssm.get_parameter(Name=options.base_parameter)["Parameter"]["Value"]
    except ClientError as exc:
        raise BakeFailed(f"the base image could not be found: SSM parameter {options.base_parameter} in {region}: "
                         f"{exc.response['Error'].get('Message') or exc}") from None


def _root_device(ec2, image: str) -> tuple[str, int]:
    """The base image's root device name and its size in GiB (0 when the image does not say)."""
    images = ec2.describe_images(ImageIds=[image]).get("Images") or [{}]
    name = images[0].get("RootDeviceName", "/dev/xvda")
    for mapping in images[0].get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == name:
            return name, int(mapping.get("Ebs", {}).get("VolumeSize") or 0)
    return name, 0


def _published_bundle(cfg: Config, s3: S3Service, say: Callable[[str], None]):
    """The bundle the smoke test classifies with: the one the workers will fetch (published first if none is)."""
    from cloud.worker.models import store

    bundle = store.published_manifest(s3, cfg.output_bucket, cfg.model)
    if bundle is None:
        say(f"no bundle for {cfg.model} is published in s3://{cfg.output_bucket}: publishing one")
        bundle = store.publish_model(cfg, s3)
    weights = model_weights_key(bundle.model, bundle.sha256)
    try:
        s3.client.head_object(Bucket=cfg.output_bucket, Key=weights)
    except ClientError:
        raise BakeFailed(f"the published bundle of {cfg.model} has no weights at s3://{cfg.output_bucket}/{weights}: "
                         f"publish it again (imgrec model publish --model {cfg.model})") from None
    return bundle


def play_builder(ec2, builder: str, status_url: str) -> None:
    """For a moto server, which runs no user data: what builder.sh does when all went well (report ok
    as the tag and through the presigned status URL, then power off)."""
    ec2.create_tags(Resources=[builder], Tags=[{"Key": BAKE_TAG, "Value": "ok"}])
    body = b"ok\nimgrec-bake: moto runs no user data: imgrec ami bake played the builder\n"
    request = urllib.request.Request(status_url, method="PUT", data=body,
                                     headers={"Content-Type": STATUS_CONTENT_TYPE})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10):
        pass
    ec2.stop_instances(InstanceIds=[builder])


def _observe(ec2, s3: S3Service, bucket: str, status_key: str, builder: str) -> tuple[str, str | None, str]:
    """The builder's state, its imgrec:bake tag and its status object ("" when there is none yet)."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[builder])["Reservations"]
    except ClientError as exc:
        if exc.response["Error"].get("Code") != "InvalidInstanceID.NotFound":
            raise
        reservations = []  # just launched: DescribeInstances is eventually consistent
    instance = reservations[0]["Instances"][0] if reservations else {"State": {"Name": "pending"}}
    tag = next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == BAKE_TAG), None)
    try:
        status = s3.get_bytes(bucket, status_key).decode("utf-8", "replace")
    except ObjectMissing:
        status = ""
    return instance["State"]["Name"], tag, status


def wait_for_builder(ec2, s3: S3Service, bucket: str, status_key: str, builder: str, *, poll: float,
                     timeout: float = BUILD_TIMEOUT_SECONDS, clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> tuple[Outcome, str]:
    """Polls until the builder has an outcome; returns it and the log tail of its status object."""
    deadline = clock() + timeout
    while True:
        state, tag, status = _observe(ec2, s3, bucket, status_key, builder)
        first, _, rest = status.partition("\n")
        outcome = builder_outcome(state, tag, first.strip() or None)
        if outcome is not None:
            return outcome, rest
        if clock() >= deadline:
            return Outcome(False, f"no outcome after {timeout / 60:g} minutes (still {state})"), rest
        sleep(poll)


def _decode_console(output: str) -> str:
    try:
        return base64.b64decode(output, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return output  # already text (some endpoints decode it)


def console_output(ec2, builder: str, *, wait: float, poll: float, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> str:
    """The builder's console output, waiting up to ``wait`` seconds for EC2 to have some."""
    deadline = clock() + wait
    while True:
        try:
            try:
                output = ec2.get_console_output(InstanceId=builder, Latest=True).get("Output") or ""
            except ClientError:  # Latest is for Nitro instances only
                output = ec2.get_console_output(InstanceId=builder).get("Output") or ""
        except ClientError as exc:
            return f"(no console output: {exc})"
        text = _decode_console(output)
        if text.strip() or clock() >= deadline:
            return text or "(EC2 has no console output for the builder yet)"
        sleep(poll)


def _tag_snapshots(ec2, image: str, tags: list[dict]) -> None:
    try:
        found = ec2.describe_images(ImageIds=[image])["Images"]
        snapshots = [m["Ebs"]["SnapshotId"] for m in (found[0].get("BlockDeviceMappings", []) if found else [])
                     if m.get("Ebs", {}).get("SnapshotId")]
        if snapshots:
            ec2.create_tags(Resources=snapshots, Tags=tags)
    except ClientError as exc:
        log.warning("could not tag the snapshots of %s: %s", image, exc)


# --- the bake ---------------------------------------------------------------------------------------
def bake(cfg: Config, options: BakeOptions | None = None, say: Callable[[str], None] = print) -> str:
    """Makes the worker image and returns its id; raises BakeFailed with the builder's console output."""
    options = options or BakeOptions()
    ec2, ssm = aws.client(cfg, "ec2"), aws.client(cfg, "ssm")
    s3 = S3Service(cfg)
    base = _base_image(ssm, options, cfg.region)
    root_device, base_gib = _root_device(ec2, base)
    volume_gib = max(options.volume_gib, base_gib)
    bundle = _published_bundle(cfg, s3, say)
    archive = source_archive()
    s3.put_bytes(cfg.input_bucket, SOURCE_KEY, archive, "application/gzip")
    status_key = f"{STATUS_PREFIX}{uuid.uuid4().hex[:12]}"

    def url(method: str, bucket: str, key: str, **params: str) -> str:
        return s3.client.generate_presigned_url(method, Params={"Bucket": bucket, "Key": key, **params},
                                                ExpiresIn=URL_SECONDS)

    # The content type is part of what a presigned PUT signs (SigV2): the builder sends exactly this one.
    status_url = url("put_object", cfg.input_bucket, status_key, ContentType=STATUS_CONTENT_TYPE)
    user_data = builder_user_data(
        source_url=url("get_object", cfg.input_bucket, SOURCE_KEY),
        manifest_url=url("get_object", cfg.output_bucket, model_manifest_key(bundle.model)),
        weights_url=url("get_object", cfg.output_bucket, model_weights_key(bundle.model, bundle.sha256)),
        status_url=status_url, model=bundle.model, sha256=bundle.sha256, options=options)
    settings = image_settings(options, base, volume_gib, archive)
    kwargs = {
        "ImageId": base, "InstanceType": options.builder_type, "MinCount": 1, "MaxCount": 1,
        "UserData": user_data, "InstanceInitiatedShutdownBehavior": "stop",
        "MetadataOptions": {"HttpTokens": "required"},
        "BlockDeviceMappings": [{"DeviceName": root_device, "Ebs": {
            "VolumeSize": volume_gib, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": "imgrec-image-builder"}, {"Key": "imgrec:role", "Value": "builder"}]}],
    }
    if options.builder_profile:
        key = "Arn" if options.builder_profile.startswith("arn:") else "Name"
        kwargs["IamInstanceProfile"] = {key: options.builder_profile}
    if cfg.subnet_id:
        kwargs["SubnetId"] = cfg.subnet_id
    if cfg.security_group_ids:
        kwargs["SecurityGroupIds"] = list(cfg.security_group_ids)
    builder = ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
    say(f"builder {builder} ({options.builder_type}, {options.arch}{', GPU' if options.gpu else ''}) from {base}: "
        f"installing imgrec[worker], then a smoke test with {bundle.model}")
    poll = LOCAL_POLL_SECONDS if cfg.is_local else POLL_SECONDS
    try:
        if cfg.is_local:
            play_builder(ec2, builder, status_url)
        outcome, builder_log = wait_for_builder(ec2, s3, cfg.input_bucket, status_key, builder, poll=poll)
        if not outcome.ok:
            say(f"builder {builder}: {outcome.reason}; reading its console output")
            raise BakeFailed(f"builder {builder}: {outcome.reason}", log=builder_log,
                             console=console_output(ec2, builder, wait=CONSOLE_WAIT_SECONDS, poll=poll))
        tags = [{"Key": "imgrec:role", "Value": "worker"}, {"Key": "imgrec:version", "Value": settings["version"]},
                {"Key": "imgrec:settings", "Value": settings_hash(settings)},
                *({"Key": f"imgrec:{name}", "Value": settings[name]} for name in ("arch", "gpu", "boot", "base"))]
        name = image_name(settings)
        image = ec2.create_image(InstanceId=builder, Name=name,
                                 Description=f"imgrec classifier worker {settings['version']} (imgrec ami bake)",
                                 TagSpecifications=[{"ResourceType": "image",
                                                     "Tags": [{"Key": "Name", "Value": name}, *tags]}])["ImageId"]
        if not cfg.is_local:
            say(f"image {image}: waiting until it is available")
            ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 15, "MaxAttempts": 120})
        _tag_snapshots(ec2, image, tags)
    finally:
        try:
            ec2.terminate_instances(InstanceIds=[builder])
            s3.client.delete_object(Bucket=cfg.input_bucket, Key=status_key)
        except ClientError as exc:
            say(f"cleaning up after builder {builder} failed: {exc}; terminate it by hand if it is still there")
    return image
