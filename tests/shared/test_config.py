"""Config: defaults <- TOML <- environment <- flags, and errors that name the setting and its source."""

import pytest

from shared.config import Config, ConfigError, load_config


def test_defaults_match_the_original_design():
    cfg = load_config(env={})
    assert cfg.max_workers == 19
    assert cfg.model == "efficientnet-lite0"
    assert cfg.wait_time == 20
    assert cfg.endpoint_url is None


def test_precedence_file_then_environment_then_flags(tmp_path):
    toml = tmp_path / "imgrec.toml"
    toml.write_text('model = "resnet18"\n[scaler]\nmax_workers = 7\nmin_workers = 1\n')
    cfg = load_config(toml, env={"IMGREC_MAX_WORKERS": "5"}, overrides={"min_workers": 2, "model": None})
    assert cfg.model == "resnet18"  # file (the None flag is ignored)
    assert cfg.max_workers == 5  # environment beats file
    assert cfg.min_workers == 2  # flag beats both
    assert cfg.source_of("max_workers") == "environment IMGREC_MAX_WORKERS"
    assert cfg.source_of("model").startswith("config file")


def test_standard_aws_variables():
    cfg = load_config(env={"AWS_PROFILE": "work", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-central-1",
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert (cfg.profile, cfg.region, cfg.endpoint_url) == ("work", "eu-central-1", "http://127.0.0.1:5000")
    assert cfg.is_local


def test_config_file_from_environment_variable(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('input_bucket = "photos-in"\n')
    assert load_config(env={"IMGREC_CONFIG": str(toml)}).input_bucket == "photos-in"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"IMGREC_MAX_WORKERS": "-1"}, "max_workers = -1 (from environment IMGREC_MAX_WORKERS): must not be negative"),
        ({"IMGREC_TARGET_DRAIN_SECONDS": "0"},
         "target_drain_seconds = 0.0 (from environment IMGREC_TARGET_DRAIN_SECONDS): must be positive"),
        ({"IMGREC_DEFAULT_WORKER_RATE": "nan"},
         "default_worker_rate = nan (from environment IMGREC_DEFAULT_WORKER_RATE): must be positive"),
        ({"IMGREC_MAX_WORKERS": "many"}, "max_workers = 'many' (from environment IMGREC_MAX_WORKERS): expected int"),
        ({"IMGREC_WAIT_TIME": "30"}, "wait_time = 30 (from environment IMGREC_WAIT_TIME): must be between 0 and 20"),
        ({"IMGREC_FLEET": "k8s"}, "fleet = 'k8s' (from environment IMGREC_FLEET): must be one of local, ec2, asg"),
        ({"AWS_ENDPOINT_URL": "localhost:5000"}, "(from environment AWS_ENDPOINT_URL): must start with http://"),
    ],
)
def test_a_wrong_value_names_the_setting_and_where_it_came_from(env, expected):
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert expected in str(err.value)


def test_file_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("max_wokers = 3\n")
    with pytest.raises(ConfigError, match="unknown setting.*max_wokers"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("max_workers = = 3\n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_config(broken, env={})


def test_flag_errors_name_the_flag():
    expected = r"min_workers = 5 \(from option --min-workers\): must not exceed max_workers"
    with pytest.raises(ConfigError, match=expected):
        load_config(env={"IMGREC_MAX_WORKERS": "3"}, overrides={"min_workers": 5})


def test_config_is_frozen_and_replace_keeps_sources():
    cfg = load_config(env={"IMGREC_MODEL": "resnet18"})
    with pytest.raises(AttributeError):
        cfg.model = "x"  # type: ignore[misc]
    moved = cfg.replace(source="test", endpoint_url="http://127.0.0.1:1")
    assert moved.source_of("endpoint_url") == "test" and moved.source_of("model") == "environment IMGREC_MODEL"
    assert isinstance(moved, Config)


def aws_config_file(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "aws-config"
    path.write_text(text)
    return {"AWS_CONFIG_FILE": str(path)}


def test_the_region_comes_from_the_aws_profile_unless_set_and_says_so(tmp_path):
    env = aws_config_file(tmp_path, "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-south-1\n")
    cfg = load_config(env=env)
    assert cfg.region == "eu-west-1"
    assert cfg.source_of("region") == f"AWS profile default in {tmp_path / 'aws-config'}"
    assert not cfg.is_given("region")
    assert load_config(env={**env, "AWS_PROFILE": "work"}).region == "ap-south-1"
    # Anything the user sets wins over the profile: the environment, a file, an option.
    assert load_config(env={**env, "AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    toml = tmp_path / "imgrec.toml"
    toml.write_text('region = "eu-north-1"\n')
    assert load_config(toml, env=env).region == "eu-north-1"
    flagged = load_config(env=env, overrides={"region": "sa-east-1"})
    assert flagged.region == "sa-east-1" and flagged.is_given("region")


def test_without_a_profile_region_it_is_us_east_1_and_a_local_cloud_ignores_the_profile(tmp_path):
    assert load_config(env=aws_config_file(tmp_path, "[default]\noutput = json\n")).region == "us-east-1"
    assert load_config(env={"AWS_CONFIG_FILE": str(tmp_path / "none")}).source_of("region") == "default"
    env = aws_config_file(tmp_path, "[default]\nregion = eu-west-1\n")
    assert load_config(env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}).region == "us-east-1"
    assert load_config(env=aws_config_file(tmp_path, "not an ini file [")).region == "us-east-1"


def test_inputs_expire_after_30_days_unless_set():
    assert load_config(env={}).input_expiry_days == 30
    assert load_config(env={"IMGREC_INPUT_EXPIRY_DAYS": "0"}).input_expiry_days == 0  # kept for ever
    with pytest.raises(ConfigError, match=r"input_expiry_days = -1 .*must not be negative"):
        load_config(env={"IMGREC_INPUT_EXPIRY_DAYS": "-1"})
