"""``imgrec predict``, ``imgrec worker`` and ``imgrec model``.

This module is imported by the CLI for those commands only. The engine is loaded inside the handlers,
after the worker has announced that it is loading; with the onnx engine nothing here imports torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

from shared.config import Config

log = logging.getLogger(__name__)


def predict(cfg: Config, args: argparse.Namespace) -> int:
    """Classifies files in this process and writes the results CSV (or prints a table)."""
    from shared import results_csv
    from shared.scan import scan

    started = time.perf_counter()
    scanned = scan(args.paths)
    from cloud.worker.models.engine import load_engine
    from cloud.worker.models.errors import ModelError
    from cloud.worker.predict import predict_items

    try:
        classifier = load_engine(cfg)
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
    """Runs a worker until it is stopped (SIGTERM/SIGINT, or the death of the process that spawned it:
    drain, exit 0) or idle for too long."""
    from cloud.worker.shutdown import Shutdown
    from cloud.worker.status import StatusReporter, default_worker_id
    from shared import aws
    from shared import worker_status as states
    from shared.children import stop_with_parent
    from shared.s3 import S3Service

    cfg = aws.with_account_defaults(cfg)  # run by hand on AWS: the buckets named after the account
    worker_id = getattr(args, "worker_id", None) or default_worker_id()
    s3 = S3Service(cfg)
    status = StatusReporter(worker_id, stdout=sys.stdout if getattr(args, "status_stdout", False) else None,
                            s3=s3, bucket=cfg.output_bucket, model=cfg.model)
    shutdown = Shutdown().install()
    stop_with_parent(shutdown.request, shutdown.requested)  # started by spawn: drain if the parent dies
    status.set(states.LOADING)
    try:
        return _run_worker(cfg, worker_id, s3, status, shutdown)
    finally:
        status.set(states.STOPPED)
        status.close()
        shutdown.uninstall()


def _run_worker(cfg: Config, worker_id: str, s3, status, shutdown) -> int:
    started = time.monotonic()
    from cloud.worker import spot
    from cloud.worker.loop import Worker
    from cloud.worker.models.engine import load_engine
    from cloud.worker.models.errors import ModelError

    try:
        classifier = load_engine(cfg, s3, serving=True)
    except ModelError as exc:
        print(f"imgrec worker: {exc}", file=sys.stderr)
        return 2
    log.info("%s loaded on %s (%s) in %.2f s", classifier.name, classifier.engine, classifier.device,
             time.monotonic() - started)
    worker = Worker(cfg, classifier, worker_id=worker_id, s3=s3, status=status, stop_event=shutdown.requested)
    # On a spot instance (an IMDS endpoint is set on EC2): the two-minute notice drains like a SIGTERM.
    spot_watch = spot.watch(cfg, lambda notice: worker.stop(f"spot interruption notice: {notice.action} "
                                                            f"at {notice.time or 'any moment'}"))
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
    if spot_watch is not None:
        spot_watch.stop()
    log.info("worker %s stopped after %d result(s)", worker_id, worker.processed)
    return outcome.get("code", 1)


def _explain(exc: Exception, cfg: Config) -> str:
    from shared import target
    from shared.sqs import queue_is_missing

    if queue_is_missing(exc):
        return target.not_provisioned(cfg, f"the request queue {cfg.request_queue!r}")
    return str(exc)


def model(cfg: Config, args: argparse.Namespace) -> int:
    """``imgrec model export | publish | show``: model bundles for the ONNX engine."""
    from cloud.worker.models import store
    from cloud.worker.models.errors import ModelError

    try:
        if args.action == "export":
            from cloud.worker.models.export import export_bundle

            check = _check_images(args.check) if args.check else None
            out = Path(args.out) if args.out else None
            bundle = export_bundle(cfg.model, out, check) if out else store.local_bundle(cfg, fresh=True,
                                                                                           check_images=check)
            _print_bundle(bundle)
            return 0
        from shared.s3 import S3Service

        s3 = S3Service(cfg)
        if args.action == "publish":
            from cloud.worker.models.bundle import read_bundle

            bundle = read_bundle(Path(args.bundle)) if args.bundle else store.local_bundle(cfg)
            print(f"published {bundle.model} ({bundle.sha256[:12]}) to {store.publish(s3, cfg.output_bucket, bundle)}")
            return 0
        published = store.published_manifest(s3, cfg.output_bucket, cfg.model)
        if published is None:
            print(f"no bundle for {cfg.model} is published in s3://{cfg.output_bucket}", file=sys.stderr)
            return 1
        _print_bundle(published)
        return 0
    except ModelError as exc:
        print(f"imgrec model: {exc}", file=sys.stderr)
        return 2


def _check_images(folder: str) -> list[Path]:
    from cloud.worker.models.export import images_in

    return images_in(Path(folder))


def _print_bundle(bundle) -> None:
    check = bundle.details.get("check") or {}
    where = f" in {bundle.path}" if bundle.path else ""
    print(f"{bundle.model}: sha256 {bundle.sha256}{where}")
    p = bundle.preprocessing
    print(f"  input {p.crop[0]}x{p.crop[1]}, resize {p.resize} {p.interpolation}, mean {p.mean}, std {p.std}; "
          f"{len(bundle.labels)} classes")
    if check:
        print(f"  checked against torch on {check.get('images')} images: top-1 equal on {check.get('top1_agree')}, "
              f"largest probability difference {check.get('max_probability_diff', 0):.1e}, "
              f"largest input difference {check.get('max_input_diff', 0):.1e}")
