"""The user data of a worker instance: its settings, written at first boot.

The worker image (``imgrec ami bake``) already holds imgrec in ``/opt/imgrec/.venv``, the boot script
``/opt/imgrec/bin/imgrec-worker.sh`` and the cron entry that runs it at every boot
(``/etc/cron.d/imgrec-worker``, see ``install-worker.sh`` beside this file). The boot script waits for
the settings file this user data writes, so it starts nothing itself; cloud-init runs user data once
per instance, and a restart from the warm pool boots straight into the worker with the settings
written the first time.
"""

from __future__ import annotations

import shlex

from shared.config import Config

ENV_FILE = "/etc/imgrec/worker.env"
CRON_FILE = "/etc/cron.d/imgrec-worker"  # installed by install-worker.sh: @reboot, the boot script

# Without a scaler an idle worker would run (and bill) forever: after this long with no work the
# worker exits and the boot script powers the instance off (it stays stopped, in the warm pool).
# The scaler stops idle instances far sooner; this only matters when the scaler is gone.
WORKER_IDLE_TIMEOUT = 300.0

# The settings a worker reads; everything else is the client's or the scaler's business.
WORKER_SETTINGS = ("region", "input_bucket", "output_bucket", "request_queue", "dead_letter_queue",
                   "visibility_timeout", "max_receives", "wait_time", "model", "device", "batch_size",
                   "max_image_bytes", "max_image_pixels", "heartbeat_interval", "reply_queue_prefix")


def worker_idle_timeout(cfg: Config) -> float:
    """The worker's own idle timeout on EC2: the setting when given, else a safety net, or never
    when a minimum fleet is meant to stay up."""
    if cfg.source_of("idle_timeout") != "default":
        return cfg.idle_timeout
    return 0.0 if cfg.min_workers else WORKER_IDLE_TIMEOUT


def worker_environment(cfg: Config) -> dict[str, str]:
    env = {"AWS_REGION": cfg.region}
    for name in WORKER_SETTINGS[1:]:
        env[f"IMGREC_{name.upper()}"] = str(getattr(cfg, name))
    env["IMGREC_IDLE_TIMEOUT"] = f"{worker_idle_timeout(cfg):g}"
    return env


def user_data(cfg: Config) -> str:
    lines = "\n".join(f"{key}={shlex.quote(value)}" for key, value in worker_environment(cfg).items())
    return f"""#!/bin/bash
# imgrec worker, first boot: write the settings (imgrec ami user-data). The boot script that cron
# starts at every boot ({CRON_FILE}) waits for them, then runs the worker.
set -eu
if [ ! -f {CRON_FILE} ]; then
    echo "imgrec: {CRON_FILE} is missing: launch workers from an image made by 'imgrec ami bake'" >&2
    exit 1
fi
install -d -m 0755 /etc/imgrec
cat > {ENV_FILE}.new <<'IMGREC_ENV'
{lines}
IMGREC_ENV
mv -f {ENV_FILE}.new {ENV_FILE}
"""
