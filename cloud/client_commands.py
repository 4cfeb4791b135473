"""`imgrec classify`, `imgrec results`, `imgrec provision` and `imgrec status`: the headless client.

Nothing here imports torch: the classifying happens in worker processes (an embedded local cloud
started for the run when no AWS target is configured, or whatever the target runs).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tempfile
import time
from contextlib import ExitStack

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from cloud import organize_commands
from cloud.local.embedded import EmbeddedCloud, EmbeddedCloudError
from cloud.local.server import LocalCloudError
from shared import aws, job_cost, reply_queues, results_csv, target
from shared.config import Config
from shared.job import JobClient, JobError, count_results, given_up, new_job_id, read_manifest, recollect
from shared.journal import JobJournal, JournalBusy, journal_path
from shared.progress import Progress
from shared.provision import lookup
from shared.provision import provision as provision_resources
from shared.s3 import S3Service
from shared.scan import scan
from shared.sqs import SQSService
from shared.worker_status import STALE_SECONDS, WorkerStatus, read_statuses

EXIT_ERROR = 2  # could not run at all: unreachable endpoint, missing resources, bad credentials
RECENT_JOBS = 5


class CommandError(RuntimeError):
    """Ends a command with one line on stderr and exit code 2."""


# --- helpers ---------------------------------------------------------------------------------------

def _clean_errors(handler):
    """Turns the errors a user can cause (unreachable endpoint, missing queue, no credentials) into one
    line on stderr and exit code 2, never a traceback."""
    @functools.wraps(handler)
    def wrapper(cfg: Config, args: argparse.Namespace) -> int:
        name = handler.__name__
        try:
            return handler(cfg, args)
        except (CommandError, JobError, LocalCloudError, EmbeddedCloudError) as exc:
            print(f"imgrec {name}: {exc}", file=sys.stderr)
        except NoCredentialsError:
            print(f"imgrec {name}: no AWS credentials found (set AWS_PROFILE or run `aws configure`), "
                  "or use --local for an embedded local cloud", file=sys.stderr)
        except (aws.EndpointUnreachable, ClientError, BotoCoreError) as exc:
            print(f"imgrec {name}: {target.explain(exc, cfg)}", file=sys.stderr)
        return EXIT_ERROR
    return wrapper


def has_aws_target(cfg: Config) -> bool:
    """True when the user configured somewhere to send work: an endpoint, a profile, a region they set
    (not one read from the AWS profile), or credentials that boto3 finds. The EC2 metadata service (an
    instance role) is asked only on an EC2 instance, told by local files, with a one-second timeout:
    elsewhere it is a network call off this machine that cannot answer."""
    if cfg.endpoint_url or cfg.profile or cfg.is_given("region"):
        return True
    import botocore.session
    from botocore.credentials import create_credential_resolver

    session = botocore.session.get_session()
    ec2_host = aws.on_ec2()
    if ec2_host:
        session.set_config_variable("metadata_service_timeout", 1)
        session.set_config_variable("metadata_service_num_attempts", 1)
    resolver = create_credential_resolver(session)
    if not ec2_host:
        resolver.remove("iam-role")  # the instance metadata service: no answer here, only a wait
    try:
        return resolver.load_credentials() is not None
    except Exception:  # noqa: BLE001 - a broken profile file: not a usable target
        return False


def _write_rows(rows, out: str | None) -> None:
    if out:
        results_csv.write_csv(out, rows)
    else:
        results_csv.print_table(rows, sys.stdout)
        sys.stdout.flush()


# --- classify --------------------------------------------------------------------------------------

@_clean_errors
def classify(cfg: Config, args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        organize_commands.check_options(args)
    except organize_commands.UsageError as exc:
        raise CommandError(str(exc)) from None
    scanned = scan(args.paths)
    stamped = organize_commands.stamps(scanned.images) if organize_commands.wants_files(args) else {}
    if not scanned.images:
        rows = results_csv.to_rows([], scanned.skipped)
        if rows:
            _write_rows(rows, args.out)
        print("nothing to classify: " + (results_csv.summary_line(rows) if rows else "no files found"),
              file=sys.stderr)
        return results_csv.exit_code(rows) if rows else EXIT_ERROR

    embedded = getattr(args, "local", False) or not has_aws_target(cfg)
    setup_note = ""
    with ExitStack() as stack:
        if embedded:
            cfg = _start_embedded(cfg, args, stack)
            setup_note = f" (plus {time.monotonic() - started:.1f} s starting the local cloud)"
            started = time.monotonic()
        else:
            cfg = target.reach(cfg)
        # A job on a lasting target is journaled, so that the same command resumes it if it stops; the
        # embedded cloud ends with this process, and its jobs with it.
        journal = None if embedded else _open_journal(cfg, args.paths, stack)
        client = stack.enter_context(JobClient(cfg))
        show = not getattr(args, "no_progress", False)
        progress = Progress(len(scanned.images), sys.stderr, enabled=show)
        job_id, resume = new_job_id(), None
        where = "the embedded local cloud" if embedded else target.describe(cfg)
        previous = journal.previous() if journal is not None else None
        if previous is not None and getattr(args, "restart", False):
            client.abandon(previous)
            print(f"job {previous.job_id} abandoned (--restart): its unsent uploads are removed",
                  file=sys.stderr)
        elif previous is not None:
            resume = client.plan_resume(previous, scanned.images)
            job_id = resume.job_id
            print(f"job {job_id}: resuming an interrupted run: {resume.summary(len(scanned.images))} "
                  "(--restart starts over)", file=sys.stderr, flush=True)
        if resume is None:
            print(f"job {job_id}: {len(scanned.images)} image(s) to {where}", file=sys.stderr, flush=True)
        try:
            job = client.submit(scanned.images, on_uploaded=progress.uploaded, job_id=job_id,
                                skipped=scanned.skipped, journal=journal, resume=resume)
            results = list(client.collect(job, on_result=progress.result))
            elapsed = time.monotonic() - started  # the job itself, not the local cloud's shutdown
        finally:
            progress.close()
        if journal is not None and any(given_up(r) for r in results):
            print("some requests were given up on: run the same command again to resume the job",
                  file=sys.stderr)
        elif journal is not None:
            journal.finish()  # every file has its final row: nothing left to resume
    rows = results_csv.to_rows(results, scanned.skipped)
    _write_rows(rows, args.out)
    if resume is not None:
        setup_note += f"; {len(resume.done)} of them were classified before the interruption"
    print(results_csv.summary_line(rows, elapsed) + setup_note
          + (f"; results in {args.out}" if args.out else ""), file=sys.stderr)
    if not embedded:
        print(f"re-collect later with: imgrec results {job_id}", file=sys.stderr)
    if organize_commands.wants_files(args):
        organize_commands.apply(args, scanned.images, results, stamped)
    print(job_cost.classify_line(cfg, job, results, started=started, elapsed=elapsed), file=sys.stderr)
    return results_csv.exit_code(rows)


def _open_journal(cfg: Config, paths, stack: ExitStack) -> JobJournal:
    try:
        journal = JobJournal.open(journal_path(cfg, paths))
    except JournalBusy:
        raise CommandError("another `imgrec classify` of these files to this target is running now: "
                           "wait for it to finish") from None
    stack.callback(journal.close)
    return journal


def _start_embedded(cfg: Config, args: argparse.Namespace, stack: ExitStack) -> Config:
    """A local cloud for this run: the autoscaler with a local fleet, or ``--workers N`` fixed workers."""
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise CommandError("--workers must be at least 1 for a run on the embedded local cloud")
    log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="imgrec-workers-"))
    fleet = f"{workers} worker(s)" if workers is not None else "the autoscaler"
    print(f"no AWS target configured: starting an embedded local cloud with {fleet}…", file=sys.stderr, flush=True)
    if not getattr(args, "verbose", False):  # the progress bar tells the story; -v shows each scaler decision
        logging.getLogger("imgrec.scaler").setLevel(logging.WARNING)
    local = cfg.replace(source="embedded local cloud", endpoint_url=None, profile=None)
    cloud = stack.enter_context(
        EmbeddedCloud(local, workers=workers or 0, log_dir=log_dir, autoscale=workers is None)
    )
    return cloud.cfg


# --- results ---------------------------------------------------------------------------------------

@_clean_errors
def results(cfg: Config, args: argparse.Namespace) -> int:
    cfg = target.reach(cfg)
    s3 = S3Service(cfg)
    wait = max(0.0, getattr(args, "wait", 0.0) or 0.0)

    def waiting(n: int) -> None:
        print(f"job {args.job_id}: waiting for {n} result(s) in progress…", file=sys.stderr, flush=True)

    found = recollect(cfg, args.job_id, s3, wait=wait, on_waiting=waiting)
    manifest = read_manifest(cfg, args.job_id, s3)
    rows = results_csv.to_rows(found, manifest.skipped if manifest else ())
    _write_rows(rows, args.out)
    counts = results_csv.tally(rows)
    print(f"job {args.job_id}: {results_csv.summary_line(rows)}", file=sys.stderr)
    if counts.not_sent:
        print(f"{counts.not_sent} file(s) are not known to be sent: the job's client stopped before sending "
              "them, or in the last seconds of sending. Run the same `imgrec classify` command again (same "
              "files, same target) to resume: what is done is not redone.", file=sys.stderr)
    elif counts.in_progress:
        print(f"{counts.in_progress} request(s) are queued or being classified: run this again later, or "
              "with --wait.", file=sys.stderr)
    return results_csv.exit_code(rows)


# --- provision -------------------------------------------------------------------------------------

@_clean_errors
def provision(cfg: Config, args: argparse.Namespace) -> int:
    cfg = target.reach(cfg)
    resources = provision_resources(cfg)
    if getattr(args, "json", False):
        print(json.dumps({"target": target.describe(cfg), **resources.to_dict()}, indent=2))
    else:
        print(f"provisioned at {target.describe(cfg)}:")
        for role, name in resources.buckets.items():
            print(f"  bucket {role}: {name}")
        for role, url in resources.queues.items():
            print(f"  queue {role}: {url}")
    return 0


# --- status ----------------------------------------------------------------------------------------

def _workers(s3: S3Service, bucket: str) -> list[WorkerStatus]:
    """Every worker's status, by worker id."""
    return sorted(read_statuses(s3, bucket).values(), key=lambda w: w.worker_id)


def _recent_jobs(s3: S3Service, bucket: str) -> list[dict]:
    manifests = []
    paginator = s3.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="jobs/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                manifests.append((obj["LastModified"], obj["Key"].split("/")[1]))
    recent = []
    for modified, job_id in sorted(manifests, reverse=True)[:RECENT_JOBS]:
        done = count_results(s3, bucket, job_id)  # one per request, however many objects hold it
        recent.append({"job_id": job_id, "updated": modified.isoformat(), "results": done})
    return recent


@_clean_errors
def status(cfg: Config, args: argparse.Namespace) -> int:
    cfg = target.reach(cfg)
    sqs, s3 = SQSService(cfg), S3Service(cfg)
    resources = lookup(cfg, sqs)
    pruned = reply_queues.prune_for(cfg, sqs) if getattr(args, "prune", False) else None
    depth = sqs.depth(resources.queues["requests"])
    dead = sqs.depth(resources.queues["dead_letter"])
    workers = _workers(s3, cfg.output_bucket)
    jobs = _recent_jobs(s3, cfg.output_bucket)
    now = time.time()
    report = {
        "target": target.describe(cfg),
        "endpoint": cfg.endpoint_url,
        "region": cfg.region,
        **resources.to_dict(),
        "queue": {"visible": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed},
        "dead_letter": {"visible": dead.visible, "in_flight": dead.in_flight},
        "workers": [{**w.data, "age_s": round(w.age(now), 1)} for w in workers],
        "recent_jobs": jobs,
        "pruned_reply_queues": pruned,  # None without --prune
    }
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"target: {report['target']}")
    print(f"requests: {depth.visible} waiting, {depth.in_flight} in flight"
          + (f", {depth.delayed} delayed" if depth.delayed else ""))
    print(f"dead letters: {dead.visible + dead.in_flight}")
    if pruned is not None:
        print(f"reply queues of gone clients removed: {len(pruned)}" + (f" ({', '.join(pruned)})" if pruned else ""))
    live = [w for w in workers if w.live(now)]
    gone = len(workers) - len(live)
    print(f"workers: {len(live)} live" + (f" ({gone} stopped or silent for over {STALE_SECONDS:.0f} s: "
                                           "see --json)" if gone else ""))
    for w in live:
        print(f"  {w.worker_id}: {w.state} ({w.age(now):.0f} s ago), {w.data.get('processed', 0)} processed")
    if jobs:
        print("recent jobs:")
        for j in jobs:
            print(f"  {j['job_id']}: {j['results']} result(s), updated {j['updated']}")
    return 0
