"""Per-fleet defaults: a setting left at its default gets the fleet's own; a setting given always wins."""

from cloud.scaler import defaults
from cloud.scaler.defaults import LOCAL_MAX_WORKERS
from shared.config import load_config


def test_local_workers_get_the_measured_cap_and_a_short_linger_unless_told_otherwise():
    cfg = load_config(env={})
    local = defaults.settings_for(cfg, "local")
    assert (local.max_workers, local.scale_in_delay) == (LOCAL_MAX_WORKERS, defaults.LOCAL_SCALE_IN_DELAY)
    assert (local.target_drain_seconds, local.boot_seconds) == (defaults.LOCAL_TARGET_DRAIN_SECONDS,
                                                                defaults.LOCAL_BOOT_SECONDS)
    assert defaults.tick_for(cfg, "local") == defaults.LOCAL_TICK

    told = load_config(env={}, overrides={"max_workers": 3, "scale_in_delay": 4, "scaler_tick": 1,
                                          "target_drain_seconds": 20, "default_worker_rate": 15})
    mine = defaults.settings_for(told, "local")
    assert (mine.max_workers, mine.scale_in_delay, mine.target_drain_seconds, mine.default_rate,
            defaults.tick_for(told, "local")) == (3, 4.0, 20.0, 15.0, 1.0)


def test_cloud_fleets_keep_the_cap_of_19_and_linger_as_long_as_a_restart_costs():
    cfg = load_config(env={"IMGREC_MIN_WORKERS": "1"})
    ec2 = defaults.settings_for(cfg, "ec2")
    assert (ec2.min_workers, ec2.max_workers, ec2.scale_in_delay) == (1, 19, defaults.EC2_RESTART_SECONDS)
    # A minute of drain, more than a new launch's boot; workers assumed at 40 images/s until measured.
    assert (ec2.target_drain_seconds, ec2.boot_seconds, ec2.default_rate) == (60.0, defaults.EC2_LAUNCH_SECONDS, 40.0)
    assert defaults.tick_for(cfg, "asg") == 2.0
