"""Bakes the worker image: a stock Amazon Linux 2023 instance installs imgrec, then becomes an AMI.

1. This checkout's source (``pyproject.toml``, ``shared/``, ``cloud/``) goes to the input bucket
   as ``ami/imgrec-src.tar.gz``; the builder fetches it through a presigned URL, so it needs no role.
2. A builder instance boots the latest Amazon Linux 2023 (the public SSM parameter) with an install
   script as its user data: Python 3.11, ``imgrec[worker]`` in ``/opt/imgrec/.venv``, the boot
   script and the systemd unit (enabled), then it powers itself off.
3. Once it has stopped, ``CreateImage`` makes the worker image; the builder is terminated.

Against the embedded moto server the same calls run, but no instance executes user data, so the
builder is stopped by this code instead of by itself. Against AWS the wait is real (a few minutes),
though ``imgrec[worker]`` is ONNX Runtime, numpy and Pillow, with no torch: about 240 MB installed. The
image holds no model: a worker fetches the bundle published in the output bucket when it starts, and
keeps it in its cache for the next boot.
"""

from __future__ import annotations

import io
import logging
import tarfile
import time
from pathlib import Path

from shared import aws
from shared.config import Config
from shared.s3 import S3Service

log = logging.getLogger(__name__)

BASE_IMAGE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SOURCE_KEY = "ami/imgrec-src.tar.gz"
SOURCE_URL_SECONDS = 3600
BUILD_TIMEOUT_SECONDS = 45 * 60
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def source_archive() -> bytes:
    """The package source, as pip installs it: pyproject.toml, README and the shared/ and cloud/ trees."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("pyproject.toml", "README.md"):
            if (ROOT / name).is_file():
                tar.add(ROOT / name, arcname=f"imgrec/{name}")
        for package in ("shared", "cloud"):
            tar.add(ROOT / package, arcname=f"imgrec/{package}",
                    filter=lambda info: None if "__pycache__" in info.name else info)
    return buffer.getvalue()


def install_script(source_url: str) -> str:
    return f"""#!/bin/bash
# imgrec worker image builder: install, enable, power off (imgrec ami bake).
set -euxo pipefail
dnf install -y python3.11 python3.11-pip tar
mkdir -p /opt/imgrec/bin /tmp/imgrec-src
curl -fsSL '{source_url}' | tar -xz -C /tmp/imgrec-src
python3.11 -m venv /opt/imgrec/.venv
/opt/imgrec/.venv/bin/pip install --no-cache-dir '/tmp/imgrec-src/imgrec[worker]'
install -m 0755 /tmp/imgrec-src/imgrec/cloud/ami/imgrec-worker.sh /opt/imgrec/bin/imgrec-worker.sh
install -m 0644 /tmp/imgrec-src/imgrec/cloud/ami/imgrec-worker.service /etc/systemd/system/imgrec-worker.service
systemctl daemon-reload
systemctl enable imgrec-worker.service
rm -rf /tmp/imgrec-src
cloud-init clean --logs
systemctl poweroff
"""


def bake(cfg: Config, say=print) -> str:
    """Makes the worker image and returns its id."""
    ec2, ssm = aws.client(cfg, "ec2"), aws.client(cfg, "ssm")
    s3 = S3Service(cfg)
    base = ssm.get_parameter(Name=BASE_IMAGE_PARAMETER)["Parameter"]["Value"]
    s3.put_bytes(cfg.input_bucket, SOURCE_KEY, source_archive(), "application/gzip")
    url = s3.client.generate_presigned_url("get_object", Params={"Bucket": cfg.input_bucket, "Key": SOURCE_KEY},
                                           ExpiresIn=SOURCE_URL_SECONDS)
    kwargs = {
        "ImageId": base, "InstanceType": cfg.instance_type, "MinCount": 1, "MaxCount": 1,
        "UserData": install_script(url), "InstanceInitiatedShutdownBehavior": "stop",
        "MetadataOptions": {"HttpTokens": "required"},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": "imgrec-image-builder"}, {"Key": "imgrec:role", "Value": "builder"}]}],
    }
    if cfg.subnet_id:
        kwargs["SubnetId"] = cfg.subnet_id
    if cfg.security_group_ids:
        kwargs["SecurityGroupIds"] = list(cfg.security_group_ids)
    builder = ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
    say(f"builder {builder} from {base}: installing imgrec[worker]")
    try:
        if cfg.is_local:
            ec2.stop_instances(InstanceIds=[builder])  # a mock instance runs no user data: play its part
        ec2.get_waiter("instance_stopped").wait(
            InstanceIds=[builder], WaiterConfig={"Delay": 15, "MaxAttempts": BUILD_TIMEOUT_SECONDS // 15})
        image = ec2.create_image(InstanceId=builder, Name=f"imgrec-worker-{time.strftime('%Y%m%d-%H%M%S')}",
                                 Description="imgrec classifier worker (imgrec ami bake)",
                                 TagSpecifications=[{"ResourceType": "image",
                                                     "Tags": [{"Key": "imgrec:role", "Value": "worker"}]}])["ImageId"]
        if not cfg.is_local:
            say(f"image {image}: waiting until it is available")
            ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 15, "MaxAttempts": 120})
    finally:
        ec2.terminate_instances(InstanceIds=[builder])
    return image
