"""Per-fleet defaults: a setting left at its default gets the fleet's own; a setting given always wins."""

from cloud.scaler import defaults
from cloud.scaler.fleet_local import LOCAL_MAX_WORKERS
from shared.config import load_config


def test_local_workers_get_the_measured_cap_and_a_short_linger_unless_told_otherwise():
    cfg = load_config(env={})
    local = defaults.settings_for(cfg, "local")
    assert (local.max_workers, local.scale_in_delay) == (LOCAL_MAX_WORKERS, defaults.LOCAL_SCALE_IN_DELAY)
    assert defaults.tick_for(cfg, "local") == defaults.LOCAL_TICK

    told = load_config(env={}, overrides={"max_workers": 3, "scale_in_delay": 4, "scaler_tick": 1})
    assert (defaults.settings_for(told, "local").max_workers, defaults.settings_for(told, "local").scale_in_delay,
            defaults.tick_for(told, "local")) == (3, 4.0, 1.0)


def test_cloud_fleets_keep_the_cap_of_19_and_linger_as_long_as_a_restart_costs():
    cfg = load_config(env={"IMGREC_MIN_WORKERS": "1"})
    ec2 = defaults.settings_for(cfg, "ec2")
    assert (ec2.min_workers, ec2.max_workers, ec2.scale_in_delay) == (1, 19, defaults.EC2_SCALE_IN_DELAY)
    assert defaults.tick_for(cfg, "asg") == 2.0
