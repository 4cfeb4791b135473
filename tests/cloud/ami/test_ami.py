"""The worker image: the user data a worker boots with, and `imgrec ami bake` against a moto server."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import boto3

from cloud.ami import bake as bake_module
from cloud.ami.user_data import user_data
from cloud.cli import main
from shared.config import load_config
from shared.provision import provision

AMI_DIR = Path(bake_module.__file__).parent


def test_user_data_writes_the_worker_settings_and_starts_the_service(tmp_path):
    cfg = load_config(env={}).replace(request_queue="jobs", output_bucket="out", model="efficientnet-lite0")
    script = user_data(cfg)
    assert script.startswith("#!/bin/bash")
    for line in ("IMGREC_REQUEST_QUEUE=jobs", "IMGREC_OUTPUT_BUCKET=out", "AWS_REGION=us-east-1",
                 "IMGREC_IDLE_TIMEOUT=300", "systemctl start imgrec-worker.service"):
        assert line in script
    assert "IMGREC_AMI_ID" not in script and "ENDPOINT" not in script  # worker settings only
    # A minimum fleet is meant to stay up: its workers do not time out on their own.
    assert "IMGREC_IDLE_TIMEOUT=0" in user_data(cfg.replace(min_workers=1))
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    subprocess.run(["sh", "-n", str(AMI_DIR / "imgrec-worker.sh")], check=True)


def test_cli_prints_the_user_data(capsys):
    assert main(["ami", "user-data"]) == 0
    assert "imgrec-worker.service" in capsys.readouterr().out


def test_bake_makes_an_image_from_a_builder_instance(moto_server, monkeypatch, capsys):
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("IMGREC_INPUT_BUCKET", f"in-{tag}")
    monkeypatch.setenv("IMGREC_OUTPUT_BUCKET", f"out-{tag}")
    cfg = load_config().replace(endpoint_url=moto_server.endpoint)
    provision(cfg)

    assert main(["ami", "bake", "--endpoint", moto_server.endpoint]) == 0
    image = capsys.readouterr().out.strip()
    keys = {"endpoint_url": moto_server.endpoint, "region_name": "us-east-1",
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    ec2 = boto3.client("ec2", **keys)
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["Name"].startswith("imgrec-worker-")
    builders = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:imgrec:role", "Values": ["builder"]}])[
        "Reservations"] for i in r["Instances"]]
    assert builders and all(i["State"]["Name"] in ("terminated", "shutting-down") for i in builders)
    # What the builder installs from: the package source with the boot script and unit.
    archive = boto3.client("s3", **keys).get_object(Bucket=cfg.input_bucket, Key=bake_module.SOURCE_KEY)["Body"]
    names = tarfile.open(fileobj=io.BytesIO(archive.read())).getnames()
    assert {"imgrec/pyproject.toml", "imgrec/cloud/ami/imgrec-worker.sh",
            "imgrec/cloud/ami/imgrec-worker.service"} <= set(names)
