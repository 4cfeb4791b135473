"""Per-fleet defaults: what a setting means when the user did not set it.

A local worker process starts in about a second and a new EC2 instance in about 40 s, so one default
does not fit both. A value set anywhere (config file, environment, flag) always wins; only a
setting still at its built-in default is replaced by the fleet's own.
"""

from __future__ import annotations

from cloud.scaler.policy import Settings
from shared.config import Config

# Local worker processes share this machine's cores.
# The local default cap. Chosen by measurement with torch workers: bench/scaling_local.py --measure-cap,
# 100-image workload through the embedded cloud, warm workers, this 2-core machine (shared, load 3-13):
#   1 worker 8.7-10.9 images/s, 2 workers 9.9-13.4 (+14-23 %), 3 workers 4.0-13.8 (at best +3 %).
# Measured again with ONNX Runtime workers (2026-11-28, quiet machine, load 0.3): 1 worker 72.5
# images/s, 2 workers 68.9, 3 workers 75.8, all within this machine's noise: one worker already keeps
# both cores busy. The cap stays 2 (a second worker costs about 200 MB and starts in under a second);
# the drain policy only starts it for a backlog one worker would take over 5 s to clear. Set
# max_workers to override (imgrec up --max-workers N).
LOCAL_MAX_WORKERS = 2

# One cold start at a time. Measured WITH TORCH WORKERS (to be measured again with the ONNX Runtime
# worker, which starts in about a second): starting a worker was CPU-bound (importing torch and
# torchvision, loading the model: about 6.5 s alone on this 2-core machine under load, 9-10 s each for
# two started together), so a second start in parallel delayed the first worker, the one that gets the
# first results out. The next start follows as soon as the booting worker reports ready.
LOCAL_MAX_BOOTING = 1

LOCAL_TICK = 0.5  # seconds; a GetQueueAttributes against a loopback moto server costs ~2 ms
LOCAL_SCALE_IN_DELAY = 0.5  # a local restart costs ~1 s of one core, not money
LOCAL_BOOT_SECONDS = 1.0  # process start to polling, ONNX Runtime worker (issue 7; torch took 5-8 s)
# A local worker costs no money, only a second of one core to start, so a backlog that one worker
# would take more than a few seconds over gets the next one (up to the local cap).
LOCAL_TARGET_DRAIN_SECONDS = 5.0
# Long polls of local workers: a stopping worker waits its polls out before it exits (messages handed
# to a vanished poll would stay hidden a whole visibility timeout), so this bounds how long a scale-in
# or closing the app takes. Empty receives against a loopback moto server cost nothing.
LOCAL_WAIT_TIME = 2

# EC2 and Auto Scaling: a restart from the warm pool costs ~12 s and a new launch ~40 s. After the
# queue empties the last instance lingers as long as a restart would cost (the ski-rental rule:
# never more than twice the cheapest choice, whatever the gap to the next image turns out to be);
# every other idle instance stops at once. See bench/scaling_sim.py.
EC2_LAUNCH_SECONDS = 40.0
EC2_RESTART_SECONDS = 12.0
EC2_TICK = 2.0
EC2_SCALE_IN_DELAY = EC2_RESTART_SECONDS
# The policy plans with a new launch's boot: an instance is never launched for less work than its own
# boot time, whether it ends up restarted from the warm pool or launched new.
EC2_BOOT_SECONDS = EC2_LAUNCH_SECONDS

# Reply queues of clients that died without closing (shared/reply_queues.py) are looked for this often,
# whatever the fleet: one ListQueues and a ListQueueTags per reply queue, and a dead client's queue
# lingers its TTL (an hour) plus this at most.
REPLY_PRUNE_SECONDS = 600.0


def _unset(cfg: Config, name: str) -> bool:
    return cfg.source_of(name) == "default"


def settings_for(cfg: Config, fleet: str | None = None) -> Settings:
    """The policy settings for ``fleet`` (default: cfg.fleet), fleet defaults filling unset values."""
    fleet = fleet or cfg.fleet
    max_workers, delay, drain = cfg.max_workers, cfg.scale_in_delay, cfg.target_drain_seconds
    if fleet == "local":
        boot = LOCAL_BOOT_SECONDS
        if _unset(cfg, "max_workers"):
            max_workers = max(LOCAL_MAX_WORKERS, cfg.min_workers)
        if _unset(cfg, "scale_in_delay"):
            delay = LOCAL_SCALE_IN_DELAY
        if _unset(cfg, "target_drain_seconds"):
            drain = LOCAL_TARGET_DRAIN_SECONDS
    else:
        boot = EC2_BOOT_SECONDS
        if _unset(cfg, "scale_in_delay"):
            delay = EC2_SCALE_IN_DELAY
    return Settings(
        min_workers=cfg.min_workers,
        max_workers=max_workers,
        target_drain_seconds=drain,
        boot_seconds=boot,
        default_rate=cfg.default_worker_rate,
        activation_backlog=cfg.activation_backlog,
        scale_in_delay=delay,
    )


def worker_config(cfg: Config, fleet: str | None = None) -> Config:
    """The configuration a fleet's workers run with: the fleet's own long-poll time when unset."""
    if (fleet or cfg.fleet) == "local" and _unset(cfg, "wait_time"):
        return cfg.replace(source="local fleet default", wait_time=min(cfg.wait_time, LOCAL_WAIT_TIME))
    return cfg


def tick_for(cfg: Config, fleet: str | None = None) -> float:
    fleet = fleet or cfg.fleet
    if _unset(cfg, "scaler_tick"):
        return LOCAL_TICK if fleet == "local" else EC2_TICK
    return cfg.scaler_tick
