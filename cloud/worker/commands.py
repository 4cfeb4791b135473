"""``imgrec predict`` and ``imgrec worker``.

This module is imported by the CLI for those two commands only; torch is imported inside the
handlers, after the worker has announced that it is loading.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from shared.config import Config

log = logging.getLogger(__name__)


def predict(cfg: Config, args: argparse.Namespace) -> int:
    """Classifies files in this process and writes the results CSV (or prints a table)."""
    from shared import results_csv
    from shared.scan import scan

    started = time.perf_counter()
    scanned = scan(args.paths)
    from cloud.worker.models import ModelError, load_classifier
    from cloud.worker.predict import predict_items

    try:
        classifier = load_classifier(cfg.model, cfg.device)
    except ModelError as exc:
        print(f"imgrec predict: {exc}", file=sys.stderr)
        return 2
    results = list(predict_items(classifier, scanned.images, cfg))
    rows = results_csv.to_rows(results, scanned.skipped)
    if args.out:
        results_csv.write_csv(args.out, rows)
    else:
        results_csv.print_table(rows)
    print(results_csv.summary_line(rows, time.perf_counter() - started), file=sys.stderr)
    return results_csv.exit_code(rows)


def worker(cfg: Config, args: argparse.Namespace) -> int:
    """Runs a worker until it is stopped (SIGTERM/SIGINT: drain, exit 0) or idle for too long."""
    from cloud.worker import status as states
    from cloud.worker.shutdown import Shutdown
    from shared.s3 import S3Service

    worker_id = getattr(args, "worker_id", None) or states.default_worker_id()
    s3 = S3Service(cfg)
    status = states.StatusReporter(worker_id, stdout=sys.stdout if getattr(args, "status_stdout", False) else None,
                                   s3=s3, bucket=cfg.output_bucket, model=cfg.model)
    shutdown = Shutdown().install()
    standby = None
    if getattr(args, "standby", False):
        from cloud.worker.standby import Standby

        standby = Standby().install()
    status.set(states.LOADING)
    try:
        return _run_worker(cfg, worker_id, s3, status, shutdown, standby)
    finally:
        status.set(states.STOPPED)
        status.close()
        shutdown.uninstall()


def _run_worker(cfg: Config, worker_id: str, s3, status, shutdown, standby=None) -> int:
    started = time.monotonic()
    from cloud.worker.loop import Worker
    from cloud.worker.models import ModelError, load_classifier
    from cloud.worker.status import STANDBY

    try:
        classifier = load_classifier(cfg.model, cfg.device)
    except ModelError as exc:
        print(f"imgrec worker: {exc}", file=sys.stderr)
        return 2
    log.info("torch imported and model loaded in %.1f s", time.monotonic() - started)
    if standby is not None:
        status.set(STANDBY)
        if not standby.wait(shutdown.requested):
            log.info("worker %s stopped in standby", worker_id)
            return 0
        log.info("worker %s activated", worker_id)
    worker = Worker(cfg, classifier, worker_id=worker_id, s3=s3, status=status, stop_event=shutdown.requested)
    outcome: dict[str, int] = {}

    def run() -> None:
        try:
            outcome["code"] = worker.run()
        except Exception as exc:  # noqa: BLE001 - reported here; the process exits non-zero
            log.error("worker %s failed: %s", worker_id, _explain(exc, cfg))
            outcome["code"] = 1

    # The loop runs in a thread so that the main thread stays free for signals: a second SIGTERM
    # exits at once even in the middle of a long inference call.
    thread = threading.Thread(target=run, name="worker-loop")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    log.info("worker %s stopped after %d result(s)", worker_id, worker.processed)
    return outcome.get("code", 1)


def _explain(exc: Exception, cfg: Config) -> str:
    text = str(exc)
    if "NonExistentQueue" in text or "QueueDoesNotExist" in text:
        where = cfg.endpoint_url or f"AWS {cfg.region}"
        return f"the request queue {cfg.request_queue!r} does not exist at {where}: run `imgrec provision`"
    return text
