"""The deployed settings in the user's config file: written over the user's own, read back by load_config,
taken out again by teardown with the user's own put back."""

from __future__ import annotations

import pytest

from cloud.deploy import settings as config_file
from shared.config import CONFIG_ENV, ConfigError, load_config

OUTPUTS = {
    "InputBucket": "imgrec-inputbucket-abc", "OutputBucket": "imgrec-outputbucket-def",
    "RequestQueue": "imgrec-RequestQueue-X1", "DeadLetterQueue": "imgrec-DeadLetterQueue-Y2",
    "ReplyQueuePrefix": "imgrec-replies-", "WorkerInstanceProfile": "arn:aws:iam::1:instance-profile/p",
    "AutoScalingGroup": "imgrec-WorkerGroup-Z3", "SecurityGroup": "sg-0123", "SubnetIds": "subnet-a,subnet-b",
    "WorkerImage": "ami-0123456789abcdef0", "LaunchTemplate": "lt-0123456789abcdef0",
}
USERS_OWN = """# my settings
region = "eu-west-1"
input_bucket = "my-photos-in"

[scaler]
fleet = "local"
max_workers = 5
security_group_ids = [
    "sg-old",
]
"""


def settings_for(**cfg_values):
    cfg = load_config(env={}).replace(**cfg_values)
    return config_file.deployed_settings(cfg, OUTPUTS)


def test_the_deployment_is_what_the_config_then_says(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USERS_OWN)
    config_file.write(path, settings_for(region="eu-west-1"), config_file.heading("imgrec", "AWS eu-west-1"))

    cfg = load_config(path, env={})
    assert (cfg.input_bucket, cfg.output_bucket) == ("imgrec-inputbucket-abc", "imgrec-outputbucket-def")
    assert (cfg.request_queue, cfg.dead_letter_queue) == ("imgrec-RequestQueue-X1", "imgrec-DeadLetterQueue-Y2")
    assert cfg.fleet == "asg" and cfg.asg_name == "imgrec-WorkerGroup-Z3"
    assert cfg.instance_profile == "arn:aws:iam::1:instance-profile/p" and cfg.ami_id == "ami-0123456789abcdef0"
    assert cfg.subnet_id == "subnet-a" and cfg.security_group_ids == ("sg-0123",)
    assert cfg.subnet_ids == ("subnet-a", "subnet-b")  # all of them, for the fleet's capacity fallbacks
    assert cfg.launch_template == "lt-0123456789abcdef0"  # fleet = "ec2" launches from the stack's template
    assert cfg.max_workers == 5  # the user's own settings that deploy does not set stay in force
    assert "my-photos-in" in path.read_text()  # replaced, not lost
    assert (tmp_path / "config.toml.bak").read_text() == USERS_OWN
    assert config_file.deployed_stack(path) == "imgrec"


def test_deploying_again_rewrites_the_block_and_teardown_puts_the_users_settings_back(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USERS_OWN)
    config_file.write(path, settings_for(), config_file.heading("imgrec", "AWS us-east-1"))
    config_file.write(path, settings_for(instance_type="c7i.large"), config_file.heading("imgrec", "AWS us-east-1"))
    text = path.read_text()
    assert text.count(config_file.BEGIN) == 1
    assert load_config(path, env={}).instance_type == "c7i.large"

    assert not config_file.remove(path, "another-stack")
    assert config_file.remove(path, "imgrec")
    assert path.read_text() == USERS_OWN
    assert not config_file.remove(path, "imgrec")


def test_an_endpoint_deployment_keeps_its_endpoint_and_a_cloud_fleet_is_kept(tmp_path):
    settings = settings_for(endpoint_url="http://127.0.0.1:4566", fleet="ec2")
    assert settings["endpoint_url"] == "http://127.0.0.1:4566" and settings["fleet"] == "ec2"
    path = tmp_path / "new" / "config.toml"  # made, with its folder
    config_file.write(path, settings, config_file.heading("imgrec", "http://127.0.0.1:4566"))
    assert load_config(path, env={}).endpoint_url == "http://127.0.0.1:4566"


def test_a_file_that_would_not_read_back_is_left_alone(tmp_path):
    path = tmp_path / "config.toml"
    original = '"input_bucket" = "quoted-key"\n'  # an assignment the merge does not recognise
    path.write_text(original)
    with pytest.raises(ConfigError, match="config file"):
        config_file.write(path, settings_for(), config_file.heading("imgrec", "AWS us-east-1"))
    assert path.read_text() == original


def test_the_file_is_the_one_every_command_reads(tmp_path):
    assert config_file.config_path("x.toml", {CONFIG_ENV: "y.toml"}).name == "x.toml"
    assert config_file.config_path(None, {CONFIG_ENV: str(tmp_path / "y.toml")}) == tmp_path / "y.toml"
    assert config_file.config_path(None, {}) == config_file.DEFAULT_CONFIG_PATH
