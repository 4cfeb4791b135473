"""What a job cost on AWS: an estimate from what was observed, priced with shared.prices. On the
embedded local cloud (any loopback endpoint) a job is free.

    cost = estimate(cfg, JobFigures(job_id, images=300, results=300), started=t0, ended=t1)
    print("cost:", cost.line())

**Compute** is instance-seconds times the on-demand price of ``cfg.instance_type``. The instance-seconds
come from the autoscaler when it runs in this process (:class:`InstanceMeter`: each tick's running,
booting and draining workers, integrated over the job's time), otherwise from the workers' status
objects in the output bucket (``workers/<id>.json``): each worker that reported during the job counts
from the job's start to its end, or to its last report when it stopped sooner. A worker started part
way through the job is counted from the start, so this errs high.

**Requests** are counted from the job's figures, one billed request per call:

- S3 PUT: one per input pack (at most 10 images), one per result object the workers wrote (listed
  from ``results/<job>/``, or one per ``batch_size`` results when it cannot be listed), the job's
  manifest twice (start and end) and the merged results CSV once;
- S3 GET: one per pack (a worker reads each pack once);
- SQS: per 10 requests a SendMessageBatch, and the worker's ReceiveMessage and DeleteMessageBatch;
  per result object the worker's reply (SendMessageBatch); per 10 results the client's ReceiveMessage
  and DeleteMessageBatch; the reply queue's create, renewal and delete.

Not counted: long polls that come back empty (the client's while it waits, idle workers'),
visibility heartbeats, retries, the manifest's refreshes while enqueuing, status-object writes, the
fleet's time after the job until it is scaled in, EC2's 60-second minimum per start, storage, data
transfer and free tiers. bench/cost.py, which counts every request of a real run, measured 0.78 SQS
requests per image where this counts about 0.6: the estimate errs low on requests.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from botocore.exceptions import BotoCoreError, ClientError

from shared import layout, prices
from shared.config import Config
from shared.s3 import S3Service
from shared.worker_status import WorkerStatus, read_statuses

log = logging.getLogger(__name__)

SQS_BATCH = 10  # entries per SQS batch call (SendMessageBatch, DeleteMessageBatch, ReceiveMessage)
MANIFEST_WRITES = 2  # the job's manifest: at the start and at the end
MERGED_CSV_WRITES = 1  # jobs/<job>/results.csv
REPLY_QUEUE_REQUESTS = 3  # CreateQueue (with its expiry tag), one TagQueue renewal, DeleteQueue
METER_SAMPLES = 50_000  # ticks an InstanceMeter keeps (a day of 2 s ticks is 43,200)

SCALER = "the autoscaler"
STATUS_OBJECTS = "the workers' status objects"
LOCAL = "local: free"


@dataclass(frozen=True)
class JobFigures:
    """What a job did, as its client saw it."""

    job_id: str
    images: int  # requests sent, one per image
    results: int  # results received
    packs: int | None = None  # input objects uploaded; None: one per PACK_MAX_IMAGES images
    result_objects: int | None = None  # objects the workers wrote; None: one per batch_size results

    def pack_count(self) -> int:
        return self.packs if self.packs is not None else math.ceil(self.images / layout.PACK_MAX_IMAGES)


@dataclass(frozen=True)
class Requests:
    s3_put: int = 0
    s3_get: int = 0
    sqs: int = 0

    @property
    def usd(self) -> float:
        return (self.s3_put * prices.S3_PUT_PER_REQUEST + self.s3_get * prices.S3_GET_PER_REQUEST
                + self.sqs * prices.SQS_STANDARD_PER_REQUEST)


def count_requests(figures: JobFigures, batch_size: int) -> Requests:
    """The billed requests a job made, counted as the module's docstring says."""
    packs = figures.pack_count()
    objects = figures.result_objects
    if objects is None:
        objects = math.ceil(figures.results / max(1, batch_size))
    per_ten_requests = math.ceil(figures.images / SQS_BATCH)
    per_ten_results = math.ceil(figures.results / SQS_BATCH)
    return Requests(
        s3_put=packs + objects + MANIFEST_WRITES + MERGED_CSV_WRITES,
        s3_get=packs,
        sqs=3 * per_ten_requests + objects + 2 * per_ten_results + REPLY_QUEUE_REQUESTS,
    )


@dataclass(frozen=True)
class JobCost:
    """A job's estimated cost; ``local`` jobs cost nothing."""

    local: bool = False
    requests: Requests = field(default_factory=Requests)
    instance_seconds: float | None = None  # None: not known, compute not priced
    instance_type: str = ""
    source: str = ""  # where the instance-seconds come from: SCALER or STATUS_OBJECTS
    compute_usd: float | None = None  # None: not priced (instance-seconds or the type's price unknown)
    note: str = ""  # why something is not priced

    @property
    def usd(self) -> float | None:
        """The total in USD; 0 for a local job; None when compute could not be priced."""
        if self.local:
            return 0.0
        if self.compute_usd is None:
            return None
        return self.compute_usd + self.requests.usd

    def short(self) -> str:
        """For a table cell: ``local: free``, ``$0.0123``, or the requests alone marked as a part."""
        if self.local:
            return LOCAL
        if self.usd is None:
            return f"≥ {money(self.requests.usd)}"
        return money(self.usd)

    def line(self) -> str:
        """One sentence: the total and what it is made of."""
        if self.local:
            return f"{LOCAL} (the embedded local cloud runs on this computer)"
        r = self.requests
        requests = (f"requests {money(r.usd)} ({r.s3_put:,} S3 PUT, {r.s3_get:,} S3 GET, {r.sqs:,} SQS)")
        if self.compute_usd is None:
            compute = f"compute not priced ({self.note})" if self.note else "compute not priced"
            head = f"at least {money(r.usd)} on AWS"
        else:
            seconds = f"{self.instance_seconds:,.0f}" if self.instance_seconds >= 10 else f"{self.instance_seconds:.1f}"
            compute = (f"compute {money(self.compute_usd)} ({seconds} instance-seconds of "
                       f"{self.instance_type}, from {self.source})")
            head = f"about {money(self.usd)} on AWS"
        return (f"{head}: {compute}, {requests}; prices of {prices.PRICES_DATED.split(' (')[0]}, us-east-1, "
                "on-demand; not counted: empty polls, heartbeats, retries, storage, data transfer")


def money(usd: float) -> str:
    if usd >= 1:
        return f"${usd:,.2f}"
    if usd >= 0.01:
        return f"${usd:.4f}"
    return f"${usd:.6f}"


def price(figures: JobFigures, *, batch_size: int, instance_type: str, instance_seconds: float | None,
          source: str) -> JobCost:
    """The cost of a job on AWS from its figures and the instance-seconds observed (pure)."""
    requests = count_requests(figures, batch_size)
    compute, note = None, ""
    if instance_seconds is None:
        note = "no record of the workers' time"
    else:
        try:
            compute = instance_seconds * prices.instance_second_price(instance_type)
        except prices.UnknownInstanceType as exc:
            note = str(exc)
    return JobCost(requests=requests, instance_seconds=instance_seconds, instance_type=instance_type,
                   source=source, compute_usd=compute, note=note)


class InstanceMeter:
    """Instance-seconds from the autoscaler's ticks: (time, workers) samples, a step function integrated
    over any window. Fed from the scaler's thread, read from another: appends and copies only."""

    def __init__(self, maxlen: int = METER_SAMPLES):
        self._samples: deque[tuple[float, int]] = deque(maxlen=maxlen)

    def add(self, ts: float, workers: int) -> None:
        self._samples.append((ts, max(0, workers)))

    def add_tick(self, tick) -> None:
        """A cloud.scaler Tick: running, booting and draining instances all bill."""
        self.add(tick.ts, tick.running + tick.booting + tick.draining)

    def seconds(self, start: float, end: float) -> float:
        """Worker-seconds between ``start`` and ``end`` (Unix seconds); none before the first sample."""
        samples = list(self._samples)
        total = 0.0
        for i, (ts, workers) in enumerate(samples):
            until = samples[i + 1][0] if i + 1 < len(samples) else end
            lo, hi = max(ts, start), min(until, end)
            if hi > lo:
                total += workers * (hi - lo)
        return total


def seconds_from_statuses(statuses: Iterable[WorkerStatus], start: float, end: float) -> float:
    """Worker-seconds in [start, end] by the status objects (see the module's docstring)."""
    total = 0.0
    for status in statuses:
        if status.ts < start:
            continue  # gone before the job started
        until = end if status.live(end) else min(end, status.ts)
        total += max(0.0, until - start)
    return total


def estimate(cfg: Config, figures: JobFigures, *, started: float, ended: float,
             meter: InstanceMeter | None = None, s3=None) -> JobCost:
    """The job's cost (``started``/``ended``: Unix seconds). Local targets cost nothing and are not asked
    anything; on AWS it lists the job's result objects and, without a ``meter``, the workers' status
    objects. A failed listing leaves that part estimated or unpriced; it never raises for it."""
    if cfg.is_local:
        return JobCost(local=True)
    s3 = s3 or S3Service(cfg)
    if figures.result_objects is None:
        try:
            objects = sum(1 for _ in s3.list_keys(cfg.output_bucket, layout.result_prefix(figures.job_id)))
            figures = replace(figures, result_objects=objects)
        except (BotoCoreError, ClientError) as exc:
            log.warning("cost: could not list the job's result objects: %s", exc)
    if meter is not None:
        seconds, source = meter.seconds(started, ended), SCALER
    else:
        source = STATUS_OBJECTS
        try:
            seconds = seconds_from_statuses(read_statuses(s3, cfg.output_bucket).values(), started, ended)
        except (BotoCoreError, ClientError) as exc:
            log.warning("cost: could not read the workers' status objects: %s", exc)
            seconds = None
    return price(figures, batch_size=cfg.batch_size, instance_type=cfg.instance_type, instance_seconds=seconds,
                 source=source)


def classify_line(cfg: Config, job, results: list, *, started: float, elapsed: float) -> str:
    """`imgrec classify`'s last line. ``job``: the shared.job Job; ``started``: time.monotonic() at the
    job's start, ``elapsed``: its seconds (the job's window, whatever ran after it)."""
    ended = time.time() - (time.monotonic() - started - elapsed)
    figures = JobFigures(job.job_id, images=len(job.requests), results=len(results))
    return "cost: " + estimate(cfg, figures, started=ended - elapsed, ended=ended).line()
