"""The Auto Scaling fleet against moto: a group launched from a launch template, desired capacity, and scale-in
protection for busy instances, also when setting it fails (a fault hook on the Auto Scaling client)."""

from __future__ import annotations

import logging
import time
import uuid

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from cloud.scaler.fleet_asg import AsgFleet
from shared.config import ConfigError
from shared.layout import worker_status_key
from shared.s3 import S3Service


@pytest.fixture
def group_cfg(aws_cfg):
    """A group as `imgrec deploy` makes it: from a launch template (new accounts cannot create launch
    configurations)."""
    name = f"imgrec-workers-{uuid.uuid4().hex[:6]}"
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": aws_cfg.ami_id, "InstanceType": "t3.medium", "MetadataOptions": {"HttpTokens": "required"},
        "IamInstanceProfile": {"Name": aws_cfg.instance_profile}})
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=5, DesiredCapacity=0,
                                          LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                          VPCZoneIdentifier=aws_cfg.subnet_id)
    return aws_cfg.replace(fleet="asg", asg_name=name)


def members(cfg) -> dict[str, dict]:
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[cfg.asg_name])["AutoScalingGroups"][0]
    return {i["InstanceId"]: i for i in group["Instances"]}


def report(cfg, instance_id: str, state: str) -> None:
    now = time.time()
    S3Service(cfg).put_json(cfg.output_bucket, worker_status_key(instance_id),
                            {"worker_id": instance_id, "state": state, "ts": now, "since": now})


def test_scale_out_sets_the_desired_capacity_and_new_instances_boot(group_cfg):
    fleet = AsgFleet(group_cfg)
    result = fleet.scale_to(3)
    assert "0 -> 3" in result.note
    assert len(members(group_cfg)) == 3
    state = fleet.observe()
    assert (state.booting, state.running) == (3, 0)  # in service, but no worker has reported yet


def test_scale_in_protects_busy_instances_and_lets_idle_ones_go(group_cfg):
    fleet = AsgFleet(group_cfg)
    fleet.scale_to(3)
    busy, idle_a, idle_b = sorted(members(group_cfg))
    report(group_cfg, busy, "busy")
    report(group_cfg, idle_a, "idle")
    report(group_cfg, idle_b, "ready")
    assert sorted(fleet.observe().idle_ids) == sorted([idle_a, idle_b])

    fleet.scale_to(0)
    left = members(group_cfg)
    assert list(left) == [busy]  # the group could only pick the unprotected, idle instances
    assert left[busy]["ProtectedFromScaleIn"] is True


def test_the_group_must_exist_and_be_named(group_cfg):
    with pytest.raises(ConfigError, match="asg_name"):
        AsgFleet(group_cfg.replace(asg_name=None))
    with pytest.raises(ConfigError, match="no such Auto Scaling group"):
        AsgFleet(group_cfg.replace(asg_name="nope")).observe()


def test_busy_instances_not_protected_yet_are_never_scaled_in(group_cfg, caplog):
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    refused = []

    def refuse_protection(model, **_):  # SetInstanceProtection throttled, as under a burst of API calls
        refused.append(model.name)
        return AWSResponse("", 400, {}, None), {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}

    autoscaling.meta.events.register("before-call.auto-scaling.SetInstanceProtection", refuse_protection)
    fleet = AsgFleet(group_cfg, autoscaling=autoscaling)
    fleet.scale_to(2)
    busy, idle = sorted(members(group_cfg))
    report(group_cfg, busy, "busy")
    report(group_cfg, idle, "idle")
    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_asg"):
        notes = [fleet.scale_to(0).note for _ in range(2)]
    assert refused and all("not scaling in" in n and "Throttling" in n for n in notes)
    assert sorted(members(group_cfg)) == sorted([busy, idle])  # desired capacity left at 2
    assert len([r for r in caplog.records if "SetInstanceProtection" in r.getMessage() or
                "set_instance_protection" in r.getMessage()]) == 1  # logged once, not per tick

    autoscaling.meta.events.unregister("before-call.auto-scaling.SetInstanceProtection", refuse_protection)
    fleet.scale_to(0)
    assert list(members(group_cfg)) == [busy]


def test_a_group_on_a_launch_configuration_works_and_is_named_once(aws_cfg, caplog):
    name = f"imgrec-legacy-{uuid.uuid4().hex[:6]}"
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    autoscaling.create_launch_configuration(LaunchConfigurationName=name, ImageId=aws_cfg.ami_id,
                                            InstanceType="t3.medium")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name, MinSize=0,
                                          MaxSize=2, DesiredCapacity=0, AvailabilityZones=["us-east-1a"])
    fleet = AsgFleet(aws_cfg.replace(fleet="asg", asg_name=name))
    with caplog.at_level(logging.WARNING, logger="cloud.scaler.fleet_asg"):
        fleet.scale_to(1)
        fleet.observe()
    assert [r.getMessage() for r in caplog.records if "launch configuration" in r.getMessage()] == [
        f"Auto Scaling group {name} launches from launch configuration {name}: it works, but new accounts cannot "
        "create launch configurations any more; `imgrec deploy` makes a launch template"]
    assert fleet.observe().booting == 1
