"""The Auto Scaling fleet against moto: desired capacity, and scale-in protection for busy instances."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from cloud.scaler.fleet_asg import AsgFleet
from shared.config import ConfigError
from shared.layout import worker_status_key
from shared.s3 import S3Service


@pytest.fixture
def group_cfg(aws_cfg):
    name = f"imgrec-workers-{uuid.uuid4().hex[:6]}"
    autoscaling = boto3.client("autoscaling", region_name="us-east-1")
    autoscaling.create_launch_configuration(LaunchConfigurationName=name, ImageId=aws_cfg.ami_id,
                                            InstanceType="t3.medium")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name, MinSize=0,
                                          MaxSize=5, DesiredCapacity=0, AvailabilityZones=["us-east-1a"])
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
