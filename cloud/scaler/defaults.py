"""Per-fleet defaults: what a setting means when the user did not set it.

A local worker process starts in about 4 s and a new EC2 instance in about 40 s, so one default
does not fit both. A value set anywhere (config file, environment, flag) always wins; only a
setting still at its built-in default is replaced by the fleet's own.
"""

from __future__ import annotations

from cloud.scaler.policy import Settings
from shared.config import Config

# Local worker processes share this machine's cores. Measured with bench/scaling_local.py on a
# 2-core machine (100-image workload): see LOCAL_MAX_WORKERS's note in fleet_local.py.
LOCAL_TICK = 0.5  # seconds; a GetQueueAttributes against a loopback moto server costs ~2 ms
LOCAL_SCALE_IN_DELAY = 0.5  # a local restart costs ~4 s of one core, not money

# EC2 and Auto Scaling: a restart from the warm pool costs ~12 s and a new launch ~40 s. After the
# queue empties the last instance lingers as long as a restart would cost (the ski-rental rule:
# never more than twice the cheapest choice, whatever the gap to the next image turns out to be);
# every other idle instance stops at once. See bench/scaling_sim.py.
EC2_TICK = 2.0
EC2_SCALE_IN_DELAY = 12.0


def _unset(cfg: Config, name: str) -> bool:
    return cfg.source_of(name) == "default"


def local_max_workers() -> int:
    from cloud.scaler.fleet_local import LOCAL_MAX_WORKERS

    return LOCAL_MAX_WORKERS


def settings_for(cfg: Config, fleet: str | None = None) -> Settings:
    """The policy settings for ``fleet`` (default: cfg.fleet), fleet defaults filling unset values."""
    fleet = fleet or cfg.fleet
    max_workers, delay = cfg.max_workers, cfg.scale_in_delay
    if fleet == "local":
        if _unset(cfg, "max_workers"):
            max_workers = max(local_max_workers(), cfg.min_workers)
        if _unset(cfg, "scale_in_delay"):
            delay = LOCAL_SCALE_IN_DELAY
    elif _unset(cfg, "scale_in_delay"):
        delay = EC2_SCALE_IN_DELAY
    return Settings(
        min_workers=cfg.min_workers,
        max_workers=max_workers,
        backlog_per_worker=cfg.backlog_per_worker,
        activation_backlog=cfg.activation_backlog,
        scale_in_delay=delay,
    )


def tick_for(cfg: Config, fleet: str | None = None) -> float:
    fleet = fleet or cfg.fleet
    if _unset(cfg, "scaler_tick"):
        return LOCAL_TICK if fleet == "local" else EC2_TICK
    return cfg.scaler_tick
