"""The embedded cloud's autoscaler: a :class:`Scaler` over a :class:`LocalFleet`, started in one call.

    scaler = start_local_scaler(cloud.cfg, log_dir=..., log_json="scaler.jsonl")
    ...
    scaler.stop()   # the loop ends; the workers drain and exit
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cloud.scaler import defaults
from cloud.scaler.fleets import make_fleet
from cloud.scaler.loop import Scaler, Tick
from shared.config import Config


def start_local_scaler(cfg: Config, *, log_dir: str | Path | None = None, worker_env: dict[str, str] | None = None,
                       log_json: str | Path | None = None,
                       on_tick: Callable[[Tick], None] | None = None) -> Scaler:
    fleet = make_fleet(cfg, "local", log_dir=log_dir, worker_env=worker_env)
    settings = defaults.settings_for(cfg, "local")
    return Scaler(cfg, fleet, settings=settings, log_json=log_json, on_tick=on_tick).start()
