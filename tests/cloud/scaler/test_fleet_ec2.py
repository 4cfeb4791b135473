"""The EC2 fleet against moto: tags and names, the cap with pending instances, the warm pool, idle-only removal,
the settings a worker cannot do without, status objects read under least privilege, failed starts held back."""

from __future__ import annotations

import base64
import time

import boto3
import pytest

from cloud.ami.user_data import user_data
from cloud.scaler.fleet_ec2 import Ec2Fleet, settings_hash
from cloud.scaler.loop import ERROR, Scaler
from shared.config import ConfigError
from shared.layout import worker_status_key
from shared.s3 import S3Service
from shared.sqs import SQSService
from tests.shared.s3_answers import deny_reads


def report(cfg, instance_id: str, state: str, ts: float | None = None, **more) -> None:
    ts = time.time() if ts is None else ts
    S3Service(cfg).put_json(cfg.output_bucket, worker_status_key(instance_id),
                            {"worker_id": instance_id, "state": state, "ts": ts, "since": ts, **more})


def describe(cfg) -> dict[str, dict]:
    """This test's instances (the mock account is shared by the module), by id."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    found = {}
    filters = [{"Name": "tag:imgrec:queue", "Values": [cfg.request_queue]}]
    for reservation in ec2.describe_instances(Filters=filters)["Reservations"]:
        for inst in reservation["Instances"]:
            found[inst["InstanceId"]] = inst
    return found


def name_of(inst: dict) -> str:
    return next(t["Value"] for t in inst["Tags"] if t["Key"] == "Name")


def test_launches_named_tagged_workers_with_the_configured_settings(aws_cfg):
    fleet = Ec2Fleet(aws_cfg)
    launched = fleet.scale_to(2).launched
    assert len(launched) == 2
    instances = describe(aws_cfg)
    assert sorted(name_of(instances[i]) for i in launched) == ["app-instance1", "app-instance2"]
    inst = instances[launched[0]]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["imgrec:role"] == "worker" and tags["imgrec:queue"] == aws_cfg.request_queue
    assert inst["ImageId"] == aws_cfg.ami_id and inst["InstanceType"] == aws_cfg.instance_type
    assert inst["SubnetId"] == aws_cfg.subnet_id and inst["KeyName"] == "ops"
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == list(aws_cfg.security_group_ids)
    assert inst["IamInstanceProfile"]["Arn"].endswith("/imgrec-worker")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    data = ec2.describe_instance_attribute(InstanceId=launched[0], Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(data).decode() == user_data(aws_cfg)  # the worker image's own first-boot settings
    assert tags["imgrec:settings"] == settings_hash(aws_cfg)
    assert inst["MetadataOptions"]["HttpTokens"] == "required" and "InstanceLifecycle" not in inst
    # No status report yet: they are booting, and booting instances are capacity.
    state = fleet.observe()
    assert (state.booting, state.running) == (2, 0)


def test_with_the_deployments_launch_template_workers_launch_from_it(aws_cfg):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"workers-{aws_cfg.request_queue}",
        LaunchTemplateData={"BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3", "VolumeSize": 8, "Encrypted": True}}]},
    )["LaunchTemplate"]["LaunchTemplateId"]
    cfg = aws_cfg.replace(launch_template=template)
    sent = []
    fleet = Ec2Fleet(cfg)
    fleet.ec2.meta.events.register("provide-client-params.ec2.RunInstances", lambda params, **_: sent.append(params))
    [launched] = fleet.scale_to(1).launched
    assert sent[0]["LaunchTemplate"] == {"LaunchTemplateId": template, "Version": "$Latest"}
    inst = describe(cfg)[launched]
    assert inst["ImageId"] == cfg.ami_id and inst["IamInstanceProfile"]["Arn"].endswith("/imgrec-worker")
    # A stopped worker of another template is not restarted in a worker of this one's place.
    assert settings_hash(cfg) != settings_hash(aws_cfg)


def test_the_cap_counts_instances_still_booting(aws_cfg):
    fleet = Ec2Fleet(aws_cfg)  # max_workers 4
    fleet.scale_to(3)
    assert len(fleet.scale_to(10).launched) == 1
    assert fleet.scale_to(10).launched == ()
    assert len(describe(aws_cfg)) == 4


def test_scale_in_stops_only_idle_instances_and_scale_out_restarts_them_first(aws_cfg):
    later = 0.0
    fleet = Ec2Fleet(aws_cfg, clock=lambda: time.time() + later)
    idle, busy, booting = fleet.scale_to(3).launched
    report(aws_cfg, idle, "idle")
    report(aws_cfg, busy, "busy")  # `booting` has not reported yet

    result = fleet.scale_to(0)
    assert result.removed == (idle,)
    states = {i: inst["State"]["Name"] for i, inst in describe(aws_cfg).items()}
    assert states[idle] == "stopped" and states[busy] == "running" and states[booting] == "running"

    later = 10.0  # the restart comes ten seconds after the idle report
    # The warm pool first: the stopped instance comes back under its old name, then a new one.
    relaunched = fleet.scale_to(4).launched
    assert relaunched[0] == idle and len(relaunched) == 2
    instances = describe(aws_cfg)
    assert name_of(instances[idle]) == "app-instance1"
    assert name_of(instances[relaunched[1]]) == "app-instance4"
    # Its "idle" report is from before the restart: it is booting again, not removable.
    assert idle not in fleet.observe().idle_ids
    assert fleet.scale_to(0).removed == ()


def test_stale_reports_do_not_make_an_instance_removable(aws_cfg):
    fleet = Ec2Fleet(aws_cfg)
    (ident,) = fleet.scale_to(1).launched
    report(aws_cfg, ident, "idle", ts=time.time() - 3600)
    assert fleet.observe().idle_ids == ()


def test_the_fleet_rate_is_the_median_of_what_fresh_reports_measured(aws_cfg):
    fleet = Ec2Fleet(aws_cfg)
    a, b, c, d = fleet.scale_to(4).launched
    report(aws_cfg, a, "busy", images_per_s=38.0)
    report(aws_cfg, b, "idle", images_per_s=42.0)
    report(aws_cfg, c, "busy", images_per_s=5.0, ts=time.time() - 3600)  # stale: not a measurement
    report(aws_cfg, d, "ready", images_per_s=None)  # loaded, no batch yet
    state = fleet.observe()
    assert state.rate == 40.0
    assert {w.id: w.images_per_s for w in state.workers} == {a: 38.0, b: 42.0, c: None, d: None}


def test_a_missing_image_is_a_clear_configuration_error(aws_cfg):
    fleet = Ec2Fleet(aws_cfg.replace(ami_id=None))
    with pytest.raises(ConfigError, match="ami_id"):
        fleet.scale_to(1)


def test_a_missing_instance_profile_is_a_clear_configuration_error(aws_cfg):
    fleet = Ec2Fleet(aws_cfg.replace(instance_profile=None))
    with pytest.raises(ConfigError, match=r"instance_profile is not set \(from code\).*exits and powers off"):
        fleet.scale_to(1)
    assert describe(aws_cfg) == {}  # nothing launched that would die at boot


def test_status_objects_answered_403_are_no_report_and_the_tick_does_not_error(aws_cfg):
    # A scaler role without s3:ListBucket: S3 answers 403, not 404, for a status object not written yet.
    fleet = Ec2Fleet(aws_cfg)
    asked = deny_reads(fleet.s3.client, prefix="workers/")
    SQSService(aws_cfg).send_batch(SQSService(aws_cfg).url(aws_cfg.request_queue), ["m"])
    loop = Scaler(aws_cfg, fleet, prune_every=None)
    first = loop.tick()
    assert first.action == "scale-out" and len(first.launched) == 1
    second = loop.tick()  # now an instance is running, and its status object is read
    assert second.action != ERROR, second.reason
    assert (second.booting, second.running) == (1, 0)  # booting: no report yet
    assert asked == [worker_status_key(first.launched[0])]


def test_a_worker_that_powers_off_before_reporting_holds_launches_back_longer_each_time(aws_cfg):
    later = 0.0
    fleet = Ec2Fleet(aws_cfg, clock=lambda: time.time() + later)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    (ident,) = fleet.scale_to(1).launched
    ec2.stop_instances(InstanceIds=[ident])  # its worker exited at once; the boot script powered it off

    held = fleet.scale_to(1)
    assert held.launched == () and "launches held for 60 s" in held.note
    assert len(describe(aws_cfg)) == 1  # no new instance launched in its place either

    later = 61.0
    assert fleet.scale_to(1).launched == (ident,)  # restarted after the pause
    assert fleet.observe().booting == 1  # seen up: a stop from here on is its own
    ec2.stop_instances(InstanceIds=[ident])
    held = fleet.scale_to(1)
    assert held.launched == () and "launches held for 120 s" in held.note and "2 worker(s)" in held.note

    # A worker that reports proves the workers can start: a later stop is no failed start.
    later = 190.0
    assert fleet.scale_to(1).launched == (ident,)
    report(aws_cfg, ident, "idle", ts=time.time() + later)
    assert fleet.observe().running == 1
    ec2.stop_instances(InstanceIds=[ident])
    assert fleet.scale_to(1).launched == (ident,)
    assert fleet.held == ""


def test_the_warm_pool_restarts_only_instances_of_this_image_and_settings_and_terminates_the_rest(aws_cfg):
    later = 0.0
    old = Ec2Fleet(aws_cfg, clock=lambda: time.time() + later)
    first, changed, third = old.scale_to(3).launched
    for ident in (first, changed, third):
        report(aws_cfg, ident, "idle")
    assert len(old.scale_to(0).removed) == 3
    ec2 = boto3.client("ec2", region_name="us-east-1")
    # Launched with other worker settings (another model, say): its first-boot settings are not ours.
    ec2.create_tags(Resources=[changed], Tags=[{"Key": "imgrec:settings", "Value": "0123456789abcdef"}])

    later = 10.0
    fleet = Ec2Fleet(aws_cfg, clock=lambda: time.time() + later)
    result = fleet.scale_to(1)
    assert result.launched == (first,)
    assert "terminated 1 stopped instance(s) of another image or settings" in result.note
    states = {i: inst["State"]["Name"] for i, inst in describe(aws_cfg).items()}
    assert states[changed] == "terminated" and states[third] == "stopped"

    # After a re-bake the stopped instance of the old image goes too, and the new one comes from the new image.
    rebaked = Ec2Fleet(aws_cfg.replace(ami_id="ami-1234abcd"), clock=lambda: time.time() + later)
    (new,) = rebaked.scale_to(2).launched  # `first` is booting: one more
    instances = describe(aws_cfg)
    assert instances[third]["State"]["Name"] == "terminated" and instances[new]["ImageId"] == "ami-1234abcd"
    # What the workers read is part of their settings; what only the scaler reads is not.
    assert settings_hash(aws_cfg.replace(model="mobilenetv3_large_100")) != settings_hash(aws_cfg)
    assert settings_hash(aws_cfg.replace(max_workers=9)) == settings_hash(aws_cfg)


def test_launch_choices_try_spot_first_then_each_subnet_then_each_type():
    from cloud.scaler.fleet_ec2 import Choice, launch_choices
    from shared.config import load_config

    cfg = load_config(env={}).replace(subnet_ids=("subnet-a", "subnet-b"), instance_types=("c7g.large", "c6g.large"),
                                      market="spot")
    assert launch_choices(cfg)[:3] == [Choice("spot", "subnet-a", "c7g.large"), Choice("spot", "subnet-a", "c6g.large"),
                                       Choice("spot", "subnet-b", "c7g.large")]
    assert [c.market for c in launch_choices(cfg)] == ["spot"] * 4 + ["on-demand"] * 4
    plain = load_config(env={}).replace(subnet_id="subnet-a")  # the single settings still work
    assert launch_choices(plain) == [Choice("on-demand", "subnet-a", "t3.medium")]
    with pytest.raises(ConfigError, match="market = 'cheap'"):
        load_config(env={"IMGREC_MARKET": "cheap"})
