"""deploy -> classify -> teardown against a moto server of this module's own (teardown removes everything
tagged as ours in the account, which a server shared with other tests would not survive).

The stack is made by CloudFormation from the template, as on AWS; what moto's CloudFormation leaves out
the embedded server completes (cloud/local/moto_server.py), and these tests read the result back through
the S3, SQS, EC2, IAM and Auto Scaling APIs. The classify step uses the stand-in worker (tests/shared/
fake_worker.py) on the deployed names; the real model is not needed to show that the names reach
every part.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from cloud import cli
from cloud.ami.user_data import user_data
from cloud.deploy.deploy import worker_config
from cloud.local.server import MotoServer
from cloud.scaler.fleet_ec2 import QUEUE_TAG, ROLE, ROLE_TAG, Ec2Fleet
from shared import reply_queues
from shared.config import load_config
from shared.results_csv import read_csv
from shared.sqs import SQSService
from tests.shared.fake_worker import FakeWorker

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def server():
    with MotoServer() as running:
        yield running


@pytest.fixture
def aws(server):
    """boto3 clients on the module's server: aws("s3")."""
    return lambda service: boto3.client(service, endpoint_url=server.endpoint, **CREDENTIALS)


def imgrec(*argv: str) -> int:
    return cli.main(list(argv))


class Serving:
    """The stand-in worker answering requests on a thread until stopped."""

    def __init__(self, cfg):
        self.worker = FakeWorker(cfg)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.worker.serve():
                self._stop.wait(0.05)

    def __enter__(self) -> Serving:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def insecure(client):
    """The client's requests say they came over plain HTTP (through a proxy, as the server sees it)."""
    client.meta.events.register("before-sign", lambda request, **_: request.headers.add_header(
        "X-Forwarded-Proto", "http"))
    return client


def test_a_dry_run_shows_the_plan_and_makes_nothing(server, aws, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("")
    assert imgrec("deploy", "--dry-run", "--stack-name", "imgrec-plan", "--endpoint", server.endpoint,
                  "--config", str(config)) == 0
    out = capsys.readouterr().out
    for kind, name in (("AWS::S3::Bucket", "InputBucket"), ("AWS::SQS::Queue", "RequestQueue"),
                       ("AWS::IAM::Role", "WorkerRole"), ("AWS::AutoScaling::AutoScalingGroup", "WorkerGroup")):
        assert f"Add      {kind:<34} {name}" in out
    assert "AWS::EC2::Instance" not in out  # the controller's condition does not hold: no image yet
    assert "dry run: nothing was applied" in out
    stacks = aws("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == "imgrec-plan")
    assert not [b for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith("imgrec-plan")]
    assert config.read_text() == ""


def _protections(aws, cfg) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    for bucket in (cfg.input_bucket, cfg.output_bucket):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                         "RestrictPublicBuckets": True}
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert (deny["Effect"], deny["Action"], deny["Condition"]) == (
            "Deny", "s3:*", {"Bool": {"aws:SecureTransport": "false"}})
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
        assert rules["imgrec-abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        # The policy is in force: a plain-HTTP request is refused, one over TLS (or loopback) is not.
        with pytest.raises(ClientError) as refused:
            insecure(aws("s3")).put_object(Bucket=bucket, Key="jobs/plain-http", Body=b"x")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        s3.put_object(Bucket=bucket, Key="jobs/over-tls", Body=b"x")
        s3.delete_object(Bucket=bucket, Key="jobs/over-tls")
    assert s3.get_bucket_lifecycle_configuration(Bucket=cfg.input_bucket)["Rules"][0]["Expiration"] == {
        "Days": cfg.input_expiry_days}
    dlq_arn = None
    for name in (cfg.dead_letter_queue, cfg.request_queue):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["SqsManagedSseEnabled"] == "true"
        (deny,) = json.loads(attributes["Policy"])["Statement"]
        assert (deny["Effect"], deny["Action"], deny["Condition"]) == (
            "Deny", "sqs:*", {"Bool": {"aws:SecureTransport": "false"}})
        if name == cfg.dead_letter_queue:
            dlq_arn = attributes["QueueArn"]
        else:
            assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn,
                                                               "maxReceiveCount": cfg.max_receives}
    (group,) = aws("ec2").describe_security_groups(GroupIds=list(cfg.security_group_ids))["SecurityGroups"]
    assert group["IpPermissions"] == []
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in group["IpPermissionsEgress"]] == [("tcp", 443, 443)]


def _launch_template(aws, template_id: str) -> dict:
    versions = aws("ec2").describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    return max(versions, key=lambda v: v["VersionNumber"])["LaunchTemplateData"]


def _tagged_instances(aws, cfg) -> list[dict]:
    filters = [{"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]},
               {"Name": f"tag:{QUEUE_TAG}", "Values": [cfg.request_queue]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    return [i for r in aws("ec2").describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def _bake_stand_in(aws, cfg) -> str:
    """What `imgrec ami bake` leaves: a worker image (tagged) with its snapshot; and here, as a failed bake
    would, its builder instance still running."""
    ec2 = aws("ec2")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": ROLE_TAG, "Value": "builder"}]}])["Instances"][0]["InstanceId"]
    worker_tag = [{"Key": ROLE_TAG, "Value": ROLE}]
    image = ec2.create_image(InstanceId=builder, Name="imgrec-worker-test", TagSpecifications=[{
        "ResourceType": "image", "Tags": worker_tag}])["ImageId"]
    # A snapshot of an earlier image, deregistered by hand: tagged as bake tags them, and still billing.
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": worker_tag}])
    ec2.delete_volume(VolumeId=volume)
    return image


def test_deploy_classify_teardown(server, aws, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("# mine\n")
    endpoint = ["--endpoint", server.endpoint, "--config", str(config)]

    # --- deploy: the stack, its protections, the settings in the config file ---------------------------
    started = time.monotonic()
    assert imgrec("deploy", *endpoint) == 0
    deploy_seconds = time.monotonic() - started
    out = capsys.readouterr().out
    assert "CREATE_COMPLETE" in out and "settings written to" in out
    cfg = load_config(config, env={})
    assert cfg.endpoint_url == server.endpoint and cfg.fleet == "asg"
    assert cfg.input_bucket.startswith("imgrec-inputbucket-") and cfg.request_queue.startswith("imgrec-RequestQueue-")
    _protections(aws, cfg)
    assert deploy_seconds < 10, f"a local deploy took {deploy_seconds:.1f} s"

    # --- classify through the deployed names -----------------------------------------------------------
    out_csv = tmp_path / "results.csv"
    with Serving(cfg) as serving:
        assert imgrec("classify", str(SAMPLES), "--out", str(out_csv), "--no-progress", "--timeout", "30",
                      "--config", str(config)) == 0
    rows = read_csv(out_csv)
    images = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    assert sorted(r["image"] for r in rows if not r["error"]) == images
    assert all(r["label"] == f"label-of-{r['image']}" for r in rows if not r["error"])
    seen = serving.worker.seen
    assert {r.bucket for r in seen} == {cfg.input_bucket}
    assert all(r.reply_queue.rsplit("/", 1)[-1].startswith(cfg.reply_queue_prefix) for r in seen)
    assert imgrec("status", "--config", str(config)) == 0
    capsys.readouterr()

    # --- the worker image, the controller, workers of both fleets --------------------------------------
    image = _bake_stand_in(aws, cfg)
    (baked,) = aws("ec2").describe_images(ImageIds=[image])["Images"]
    snapshots = [m["Ebs"]["SnapshotId"] for m in baked["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshots
    assert imgrec("deploy", "--image", image, "--controller", *endpoint) == 0
    out = capsys.readouterr().out
    assert f"Modify   {'AWS::EC2::LaunchTemplate':<34} WorkerLaunchTemplate" in out
    assert f"Add      {'AWS::EC2::Instance':<34} Controller" in out
    cfg = load_config(config, env={})
    assert cfg.ami_id == image
    stack = {o["OutputKey"]: o["OutputValue"]
             for o in aws("cloudformation").describe_stacks(StackName="imgrec")["Stacks"][0]["Outputs"]}
    template = _launch_template(aws, stack["LaunchTemplate"])
    assert template["ImageId"] == image
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert template["CreditSpecification"] == {"CpuCredits": "standard"}
    (volume,) = template["BlockDeviceMappings"]
    (root,) = [m for m in baked["BlockDeviceMappings"] if m["DeviceName"] == baked["RootDeviceName"]]
    assert volume["DeviceName"] == baked["RootDeviceName"]  # the image's root, not a second volume
    assert volume["Ebs"]["VolumeSize"] == max(root["Ebs"]["VolumeSize"], 8)
    assert volume["Ebs"]["Encrypted"] is True and volume["Ebs"]["VolumeType"] == "gp3"
    assert base64.b64decode(template["UserData"]).decode() == user_data(worker_config(cfg, stack))
    (controller,) = [i for r in aws("ec2").describe_instances(InstanceIds=[stack["Controller"]])["Reservations"]
                     for i in r["Instances"]]
    assert controller["IamInstanceProfile"]["Arn"].split("/")[-1].startswith("imgrec-ScalerInstanceProfile-")
    scaler_settings = base64.b64decode(aws("ec2").describe_instance_attribute(
        InstanceId=stack["Controller"], Attribute="userData")["UserData"]["Value"]).decode()
    assert f'request_queue = "{cfg.request_queue}"' in scaler_settings and f'ami_id = "{image}"' in scaler_settings

    aws("autoscaling").set_desired_capacity(AutoScalingGroupName=cfg.asg_name, DesiredCapacity=1)
    fleet = Ec2Fleet(cfg, ec2=aws("ec2"))
    fleet.scale_to(2)  # counts the group's instance (same tags) and launches one more
    launched = _tagged_instances(aws, cfg)
    assert len(launched) == 2
    aws("ec2").stop_instances(InstanceIds=[launched[-1]["InstanceId"]])  # one in the warm pool: still billing
    sqs = SQSService(cfg)
    reply_queues.create(sqs, cfg.reply_queue_prefix + "dead-client", ttl_seconds=1)
    aws("iam").create_user(UserName="alice")  # a person who classifies, given the users' policy
    aws("iam").attach_user_policy(UserName="alice", PolicyArn=stack["ClientPolicy"])
    aws("s3").put_bucket_versioning(Bucket=cfg.output_bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        aws("s3").put_object(Bucket=cfg.output_bucket, Key="jobs/versioned", Body=body)
    aws("s3").delete_object(Bucket=cfg.output_bucket, Key="jobs/versioned")  # a delete marker

    # --- teardown: asks first, then removes all -------------------------------------------------------
    assert imgrec("teardown", *endpoint) == 2  # not at a terminal and no --yes: nothing happens
    assert aws("cloudformation").describe_stacks(StackName="imgrec")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    capsys.readouterr()
    started = time.monotonic()
    assert imgrec("teardown", "--yes", *endpoint) == 0
    teardown_seconds = time.monotonic() - started
    out = capsys.readouterr().out
    assert f"stopped the controller {stack['Controller']}" in out
    assert f"deregistered 1 image(s) ({image}) and deleted {len(snapshots) + 1} snapshot(s)" in out
    assert f"{cfg.reply_queue_prefix}dead-client" in out
    assert "detached the stack's policies from user alice" in out
    assert "nothing of the deployment remains" in out
    assert teardown_seconds < 30, f"a local teardown took {teardown_seconds:.1f} s"

    ec2 = aws("ec2")
    assert not _tagged_instances(aws, cfg)
    live = ["pending", "running", "stopping", "stopped"]
    assert not ec2.describe_instances(Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": ["builder", "controller"]},
                                               {"Name": "instance-state-name", "Values": live}])["Reservations"]
    assert not ec2.describe_images(Owners=["self"])["Images"]
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not remaining & set(snapshots)
    assert not ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": f"tag:{ROLE_TAG}", "Values": [ROLE]}])[
        "Snapshots"]
    assert not [b for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith("imgrec-")]
    assert not aws("sqs").list_queues(QueueNamePrefix="imgrec").get("QueueUrls")
    assert not [r for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith("imgrec-")]
    assert not aws("iam").list_policies(Scope="Local")["Policies"]
    assert aws("iam").list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []  # alice stays
    assert not aws("iam").list_instance_profiles()["InstanceProfiles"]
    assert not aws("ec2").describe_launch_templates()["LaunchTemplates"]
    assert not aws("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert not ec2.describe_security_groups(Filters=[{"Name": "tag:imgrec:stack", "Values": ["imgrec"]}])[
        "SecurityGroups"]
    assert not [s for s in aws("cloudformation").list_stacks()["StackSummaries"]
                if s["StackName"] == "imgrec" and s["StackStatus"] != "DELETE_COMPLETE"]
    assert config.read_text() == "# mine\n"  # the deployed settings are out of the config again
