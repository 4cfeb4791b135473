"""The fleet a setting names, built in one place for ``imgrec scaler`` and the desktop app.

``local`` runs worker processes on this machine, ``ec2`` drives instances booted from the worker image,
``asg`` an Auto Scaling group. Each fleet's module is imported only when it is chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cloud.scaler.fleet import Fleet
from shared.config import Config, ConfigError

KINDS = ("local", "ec2", "asg")


def make_fleet(cfg: Config, kind: str | None = None, *, launching: bool = True,
               log_dir: str | Path | None = None, worker_env: Mapping[str, str] | None = None) -> Fleet:
    """The fleet ``kind`` names (default: ``cfg.fleet``).

    ``launching``: it will be asked to scale, so an EC2 fleet's launch settings are checked now (at start,
    not at the first launch when work is already waiting); False for a fleet only observed.
    ``log_dir``, ``worker_env``: local workers' stderr files and extra environment.
    Local workers are started as every local worker is, in a session of their own and niced
    (cloud.local.priority.WORKERS), up to the local cap."""
    kind = kind or cfg.fleet
    if kind == "local":
        from cloud.local.fleet import LocalFleet
        from cloud.local.priority import WORKERS
        from cloud.scaler.defaults import settings_for

        return LocalFleet(cfg, max_workers=settings_for(cfg, "local").max_workers, options=WORKERS,
                          log_dir=log_dir, worker_env=dict(worker_env or {}))
    if kind == "ec2":
        from cloud.scaler.fleet_ec2 import Ec2Fleet, check_launch_settings

        if launching:
            check_launch_settings(cfg)
        return Ec2Fleet(cfg)
    if kind == "asg":
        from cloud.scaler.fleet_asg import AsgFleet

        return AsgFleet(cfg)
    raise ConfigError(f"fleet = {kind!r} (from {cfg.source_of('fleet')}): must be one of {', '.join(KINDS)}")
