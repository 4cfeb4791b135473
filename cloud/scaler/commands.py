"""`imgrec scaler`: the autoscaler as a headless daemon (or one tick with --once).

The fleet comes from the ``fleet`` setting (``--fleet``, see :mod:`cloud.scaler.fleets`): ``local`` runs
worker processes on this machine, ``ec2`` drives instances booted from the worker image, ``asg`` an Auto
Scaling group.
SIGTERM or SIGINT ends the loop after the tick in hand; the local fleet's workers drain and stop
with it, cloud instances are left to the next scaler. A systemd unit for a controller instance is
``cloud/scaler/imgrec-scaler.service``.

On real AWS, bucket names not set are derived from the account at start (``aws.with_account_defaults``),
and the start-up line says which region, and which buckets, the scaler works with.
"""

from __future__ import annotations

import logging
import signal
import sys

from cloud.scaler import defaults
from cloud.scaler.fleets import make_fleet
from cloud.scaler.loop import ERROR, Scaler
from shared import aws
from shared.config import Config

log = logging.getLogger("imgrec.scaler")


def scaler(cfg: Config, args) -> int:
    once = getattr(args, "once", False)
    if once and cfg.fleet == "local":
        print("imgrec scaler: --once needs a cloud fleet (ec2 or asg): local workers live only as long as "
              "the scaler that started them", file=sys.stderr)
        return 2
    cfg = aws.with_account_defaults(cfg)
    settings = defaults.settings_for(cfg)
    fleet = make_fleet(cfg)
    loop = Scaler(cfg, fleet, settings=settings, log_json=getattr(args, "log_json", None))
    where = cfg.endpoint_url or f"AWS {cfg.region} (region from {cfg.source_of('region')})"
    log.info("scaler: %s, queue %s, buckets %s and %s", where, cfg.request_queue, cfg.input_bucket, cfg.output_bucket)
    log.info("scaler: fleet %s, %d..%d workers, backlog drained within %g s (boot %g s, %g images/s per worker "
             "until measured), tick %.1f s, scale-in delay %.0f s", fleet.kind, settings.min_workers,
             settings.max_workers, settings.target_drain_seconds, settings.boot_seconds, settings.default_rate,
             loop.tick_seconds, settings.scale_in_delay)
    if once:
        record = loop.tick()
        loop.stop(close_fleet=False)
        return 1 if record.action == ERROR else 0

    def on_signal(signum, frame):
        log.info("scaler: %s received, stopping", signal.Signals(signum).name)
        loop.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop.run()
    finally:
        loop.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
