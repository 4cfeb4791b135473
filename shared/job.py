"""The job client: upload + enqueue + collect. Used by `imgrec classify` and by the desktop app.

CONTRACT (implemented by the job-client work): names and signatures are stable; callbacks may be
called from background threads; nothing here touches Qt or torch.

    client = JobClient(cfg)                 # creates this client's own reply queue
    job = client.submit(scan_result.images, on_uploaded=..., cancelled=lambda: False)
    for result in client.collect(job, on_result=...):   # every submitted item exactly once
        ...
    client.close()                          # deletes the reply queue

How it works:
- ``submit`` uploads the inputs in packs: up to ``layout.PACK_MAX_IMAGES`` (10) consecutive files'
  bytes end to end in one object ``jobs/<job>/pack-<n>`` of at most ``layout.PACK_MAX_BYTES`` (a larger
  file is a pack of one), one PutObject each instead of one per image (S3 PUTs were most of the cost
  per image). Packs go through boto3's transfer manager (``cfg.upload_concurrency`` at a time, at
  most ``UPLOAD_BUFFER_BYTES`` of them in memory). Each request names its pack and its image's byte
  range (``offset``, ``length``); the worker reads just that range. Files are reported uploaded
  (``on_uploaded``) when their pack is durable; a pack that fails to upload is one error row per file
  in it. As packs finish, a background thread sends the requests in batches of 10, a pack's in one
  batch where it can (a cancel, checked between batches, stops between packs). The whole backlog goes
  onto the queue, so the autoscaler sees it. ``JobClient(window=N)`` optionally keeps at most N of a
  job's requests queued at once and sends the rest as results come back (back-pressure for a slow
  queue); ``submit`` then returns once what the window allows has been sent, and ``job.requests``
  keeps growing until everything is enqueued.
- Two threads per client receive replies on the client's own queue (short long polls), drop malformed
  ones with a log line, and hand each result to its job, once per request id (a redelivered request
  may be answered twice).
- S3 is the durable record: when no new result arrives for a few seconds, ``collect`` lists the job's
  result objects in the output bucket (one per worker batch, ``shared.result_objects``), reads those
  it has not read yet and recovers the results missed on the queue. After ``timeout`` seconds
  without a new result the remaining requests come back as errors.
- Every item submitted comes back exactly once from ``collect``: uploaded and classified, or as an
  error result (upload failed, cancelled before it was enqueued, timed out). Errors from before the
  queue are also kept in ``job.upload_errors``.
- ``cfg.upload = "preview"`` packs a downscaled JPEG (``shared.preview``) in place of each photo,
  made a few at a time in threads just ahead of its pack, under the same request and name, so
  results still carry the original file's name. ``upload_tally(job_id)`` says what was sent.
- Inputs that will never be read are deleted: a pack none of whose requests was sent (cancelled,
  closed, or enqueuing stopped); a pack with one request sent stays for the workers.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from shared import layout, reply_queues, results_csv, target
from shared.config import Config
from shared.endpoint_watch import EndpointWatch
from shared.job_manifest import IN_PROGRESS, Manifest, ManifestError
from shared.job_run import CANCELLED_BEFORE_ENQUEUE, Job, JobRun
from shared.journal import JobJournal, Previous
from shared.messages import MessageError, Request, Result
from shared.preview import preview_jpeg, preview_long_side, preview_min_short_side
from shared.result_objects import MAX_OBJECT_BYTES, parse
from shared.resume import ResumePlan, plan_resume
from shared.s3 import ObjectMissing, ObjectTooLarge, S3Service, Upload
from shared.scan import Item, Skipped, too_many_bytes
from shared.sqs import SQSService, queue_is_missing

log = logging.getLogger(__name__)

RECOVER_AFTER_SECONDS = 5.0  # no new result for this long: look for missed results in S3
ENDPOINT_LOST_SECONDS = 30.0  # no result, and neither SQS nor S3 reachable, for this long: the job ends
MANIFEST_EVERY_SECONDS = 2.0  # while enqueuing, the manifest's list of sent requests is this fresh
RESULTS_POLL_SECONDS = 2.0  # how often the output bucket is listed for results known to go only there
REPLY_WAIT_SECONDS = 1  # short long polls, so that close() is quick
RECEIVER_THREADS = 2
FETCH_THREADS = 16
PREVIEW_THREADS = min(4, os.cpu_count() or 1)  # Pillow releases the interpreter lock while it resizes
MAX_MERGED_BYTES = 256 * 1024 * 1024  # a job's merged CSV: about a million rows
UPLOAD_BUFFER_BYTES = 4 * layout.PACK_MAX_BYTES  # packs read into memory and not yet uploaded, at most

TIMED_OUT = "timed out waiting for a result"
STOPPED_ANSWERING = "stopped answering for"  # in the error of requests given up when the endpoint went away
CANCELLED_BEFORE_UPLOAD = "cancelled before upload"
CLIENT_CLOSED = "client closed before it was enqueued"


class JobError(RuntimeError):
    """The job cannot run or be found; the message says why and what to do."""


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@dataclass
class UploadTally:
    """A job's uploads so far: the user's files, and the bytes that went to S3 for them."""

    files: int = 0  # finished, successfully or not
    file_bytes: int = 0  # their size on disk
    sent_bytes: int = 0  # what was uploaded for those that succeeded
    saved_bytes: int = 0  # their size on disk less what was sent: > 0 with upload = preview


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class JobClient:
    def __init__(self, cfg: Config, s3=None, sqs=None, client_id: str | None = None,
                 window: int | None = None):
        self.cfg = cfg
        self.s3 = s3 or S3Service(cfg)
        self.sqs = sqs or SQSService(cfg)
        self.client_id = client_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.window = window or 0  # 0: the whole backlog is queued at once, for the autoscaler to see
        self.reply_queue = layout.reply_queue_name(cfg.reply_queue_prefix, self.client_id)
        self.reply_url = reply_queues.create(self.sqs, self.reply_queue)
        # A killed client leaves its queue behind: pruners remove it once this stops renewing it.
        self._renewer = reply_queues.Renewer(self.sqs, self.reply_queue, self.reply_url).start()
        self._request_url: str | None = None
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()
        self._active = threading.Condition(self._lock)  # receivers sleep while no job is running
        self._closing = threading.Event()
        self._receivers: list[threading.Thread] = []
        self._feeders: list[threading.Thread] = []
        self._closed = False
        self._tallies: dict[str, UploadTally] = {}
        self._readers: dict[str, ResultReader] = {}  # per running job: its result objects read so far
        self._preview_sides: tuple[int, int] | None = None
        self._endpoint = EndpointWatch(log)  # connection failures of the background calls, logged sparsely

    def __enter__(self) -> JobClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- submit ------------------------------------------------------------------------------
    def request_url(self) -> str:
        if self._request_url is None:
            try:
                self._request_url = self.sqs.url(self.cfg.request_queue)
            except ClientError as exc:
                if queue_is_missing(exc):
                    what = f"the request queue {self.cfg.request_queue!r}"
                    raise JobError(target.not_provisioned(self.cfg, what)) from None
                raise
        return self._request_url

    def submit(
        self,
        items: Sequence[Item],
        on_uploaded: Callable[[Item, int, int], None] | None = None,  # (item, files_done, bytes_done)
        cancelled: Callable[[], bool] = lambda: False,
        job_id: str | None = None,
        *,
        skipped: Sequence[Skipped] = (),
        journal: JobJournal | None = None,
        resume: ResumePlan | None = None,
    ) -> Job:
        """Uploads in packs, concurrently, then enqueues in batches of 10 as packs finish.

        On cancel: stops uploading between packs; what was uploaded but not enqueued is not enqueued
        (and its pack deleted); what was enqueued stays in the job (its results still arrive).

        ``on_uploaded`` is called once per item whose upload finished, successfully or not (a failed
        one comes back from collect as an error): for the files of a pack when the pack is durable,
        from transfer threads. ``skipped`` files are only
        recorded in the job's manifest, for `imgrec results`.

        ``journal``: each step is recorded ahead in it (``shared.journal``), so that a later run can
        resume the job. ``resume`` (from ``plan_resume``): the job goes on where an earlier client
        stopped: results already in S3 come back from collect at once, requests still queued are
        awaited, the rest is sent (again)."""
        if self._closed:
            raise JobError("this JobClient is closed")
        self.request_url()
        if resume is not None:
            job_id = resume.job_id
        job = Job(job_id=job_id or new_job_id(), total=len(items), skipped=list(skipped))
        items_by_rid: dict[str, Item] = {}
        for item in items:
            rid = (resume.request_ids.get(item.path) if resume else None) or layout.new_request_id()
            items_by_rid[rid] = item
        run = _PackedRun(job, items_by_rid, self.window, cancelled, journal=journal)
        with self._lock:
            if job.job_id in self._runs:
                raise JobError(f"job {job.job_id} is already running in this client")
            self._runs[job.job_id] = run
            self._active.notify_all()
        if journal is not None:
            if resume is None:
                journal.start(job.job_id, self.client_id, items_by_rid)
            else:
                journal.continue_run(job.job_id, self.client_id, items_by_rid)
        if resume is not None:
            self._resume(run, resume)
        self._start_receivers()
        self._write_manifest(run)
        feeder = threading.Thread(target=self._feed, args=(run,), name=f"imgrec-enqueue-{job.job_id}", daemon=True)
        self._feeders.append(feeder)
        feeder.start()
        try:
            self._upload(run, on_uploaded, cancelled)
        finally:
            with run.cond:
                run.uploads_done = True
                run.cond.notify_all()
        while not run.settled():
            time.sleep(0.01)
        return job

    # --- resume --------------------------------------------------------------------------------
    def plan_resume(self, previous: Previous, items: Sequence[Item]) -> ResumePlan:
        """What is left to do of an earlier run of a job (its journal), for ``submit(resume=...)``: reads
        the job's results already in the output bucket."""
        reader = ResultReader(self.s3, self.cfg.output_bucket, previous.job_id)
        known = {entry.request_id for entry in previous.files.values()}
        found = reader.read_new(wanted=known.__contains__)
        with self._lock:
            self._readers[previous.job_id] = reader  # collect() goes on from what it has read
        return plan_resume(previous, items, found)

    def abandon(self, previous: Previous) -> None:
        """Gives up an earlier run of a job: the inputs it never sent and its reply queue are removed
        (what it sent is still classified, for `imgrec results`)."""
        self._delete_packs(plan_resume(previous, (), ()).stale_packs)
        self._delete_reply_queue_of(previous.client_id)

    def _resume(self, run: _PackedRun, plan: ResumePlan) -> None:
        """Takes the job up where its earlier client stopped (see ``submit``)."""
        self._delete_packs(plan.stale_packs)
        self._delete_reply_queue_of(plan.old_client_id)  # its replies are in S3 too
        with run.cond:
            run.next_pack = plan.next_pack
            for rid, result in plan.done.items():
                if rid in run.items:
                    run.adopted.add(rid)
                    run.deliver(result)
            in_flight = [rid for rid in plan.in_flight if rid in run.items]
            run.adopted.update(in_flight)
            run.awaited.update(in_flight)
            run.enqueued.update(in_flight)
            run.outstanding += len(in_flight)
            run.job.requests = {**run.job.requests, **{rid: run.items[rid] for rid in in_flight}}
            for rid, place in plan.resend.items():
                if rid in run.items:  # its pack is in S3: sent again as it is (answered on this client's queue)
                    run.adopted.add(rid)
                    run.placed[rid] = place
                    run.pending.append(rid)
            run.cond.notify_all()

    def _delete_reply_queue_of(self, client_id: str) -> None:
        if not client_id or client_id == self.client_id:
            return
        name = layout.reply_queue_name(self.cfg.reply_queue_prefix, client_id)
        try:
            self.sqs.delete_queue(self.sqs.url(name))
        except Exception as exc:  # noqa: BLE001 - gone already, or left for pruning
            log.debug("did not delete the earlier reply queue %s: %s", name, _one_line(exc))

    def upload_tally(self, job_id: str) -> UploadTally:
        """A copy of the job's upload figures (all zero for a job this client has not submitted)."""
        with self._lock:
            return replace(self._tallies.get(job_id) or UploadTally())

    def preview_sides(self) -> tuple[int, int]:
        """The previews' long side (twice the input of the model published in the output bucket) and
        the least short side (the model's resize)."""
        if self._preview_sides is None:
            try:
                bundle = self.s3.get_json(self.cfg.output_bucket, layout.model_manifest_key(self.cfg.model),
                                          denied_is_missing=True)
                preprocessing = bundle.get("preprocessing") if isinstance(bundle, dict) else None
            except ObjectMissing:
                preprocessing = None
            except Exception as exc:  # noqa: BLE001 - unreadable: the default size is a fine preview
                log.warning("could not read the model bundle: %s", _one_line(exc))
                preprocessing = None
            self._preview_sides = preview_long_side(preprocessing), preview_min_short_side(preprocessing)
        return self._preview_sides

    def _upload(self, run: _PackedRun, on_uploaded, cancelled: Callable[[], bool]) -> None:
        if self.cfg.upload != "preview":
            self._upload_files(run, on_uploaded, cancelled, None)
            return
        sides = self.preview_sides()
        with tempfile.TemporaryDirectory(prefix="imgrec-previews-") as folder, \
                ThreadPoolExecutor(PREVIEW_THREADS, thread_name_prefix="imgrec-preview") as pool:
            previews = _Previews(run, self.cfg, sides, Path(folder), pool)
            try:
                self._upload_files(run, on_uploaded, cancelled, previews)
            finally:
                pool.shutdown(cancel_futures=True)

    def _upload_files(self, run: _PackedRun, on_uploaded, cancelled: Callable[[], bool],
                      previews: _Previews | None) -> None:
        """Reads the items (or their previews) in order into packs of up to PACK_MAX_IMAGES images and
        PACK_MAX_BYTES, uploads each pack as one object and hands its requests to the enqueuer together
        once it is durable. A file that cannot be read is an error row of its own; a pack whose upload
        fails is one error row per file in it."""
        cfg = self.cfg
        in_flight = _InFlight(UPLOAD_BUFFER_BYTES)  # memory: packs read and not yet uploaded
        with self._lock:
            tally = self._tallies[run.job.job_id] = UploadTally()
        started: set[str] = set()
        finished: set[str] = set()

        def stopping() -> bool:
            return cancelled() or run.stopped is not None

        def report(item: Item, sent_bytes: int | None = None) -> None:  # None: nothing was uploaded
            with self._lock:
                tally.files += 1
                tally.file_bytes += item.size
                if sent_bytes is not None:
                    tally.sent_bytes += sent_bytes
                    tally.saved_bytes += item.size - sent_bytes
                files, nbytes = tally.files, tally.file_bytes
            if on_uploaded is not None:
                try:
                    on_uploaded(item, files, nbytes)
                except Exception:  # noqa: BLE001 - a caller's callback must not stop the uploads
                    log.exception("on_uploaded callback failed")

        def readied():
            """(request id, the bytes to send) per item, in order; items that cannot be sent are
            answered here."""
            for rid, item in run.items.items():
                if rid in run.adopted:
                    continue
                if stopping():
                    return
                if item.size > cfg.max_image_bytes:
                    run.fail(rid, too_many_bytes(item.size, cfg.max_image_bytes), True)
                else:
                    try:
                        yield rid, _input_bytes(rid, item, previews)
                        continue
                    except OSError as exc:  # vanished or unreadable since the scan
                        run.fail(rid, f"upload failed: {_one_line(exc)}", True)
                finished.add(rid)
                report(item)

        def pack(members: list[tuple[str, bytes]]) -> Upload | None:
            """The pack's upload, once there is room for it in memory; None when stopping."""
            data = b"".join(part for _, part in members)
            in_flight.acquire(len(data))
            if stopping():  # cancel stops between packs: this one is not sent
                in_flight.release(len(data))
                return None
            key = run.new_pack_key()
            placed = run.add_pack(key, [(rid, len(part)) for rid, part in members])
            if run.journal is not None:
                run.journal.pack(key, placed)
            started.update(rid for rid, _ in members)
            return Upload(f"{len(members)} file(s) of job {run.job.job_id}", cfg.input_bucket, key, data)

        def uploads():
            members: list[tuple[str, bytes]] = []
            size = 0
            for rid, data in readied():
                if members and (len(members) == layout.PACK_MAX_IMAGES or size + len(data) > layout.PACK_MAX_BYTES):
                    upload = pack(members)
                    if upload is None:
                        return
                    yield upload
                    members, size = [], 0
                members.append((rid, data))
                size += len(data)
            if members and not stopping():
                upload = pack(members)
                if upload is not None:
                    yield upload

        def on_done(upload: Upload, error: BaseException | None) -> None:
            in_flight.release(len(upload.data))
            rids = run.packs[upload.key]
            finished.update(rids)
            if error is not None:
                for rid in rids:
                    run.fail(rid, f"upload failed: {_one_line(error)}", before_queue=True)
            else:
                with run.cond:  # the pack's requests reach the enqueuer together, or none of them
                    accepted = [rid for rid in rids if run.uploaded(rid)]
                if not accepted:
                    self._delete_inputs(run, rids)
            for rid in rids:
                report(run.items[rid], run.placed[rid][2] if error is None else None)

        for rid in run.adopted:  # a resumed job's requests that are already in S3 or the queue
            finished.add(rid)
            report(run.items[rid])
        try:
            # Cancellation is checked in uploads(): every pack it yields is really started.
            self.s3.upload_many(uploads(), on_done)
        except (BotoCoreError, ClientError, OSError) as exc:
            log.error("uploads stopped: %s", _one_line(exc))
            run.stop(f"not uploaded: {_one_line(exc)}")
        was_cancelled = cancelled()
        if was_cancelled:
            run.job.cancelled = True
        for rid in run.items:
            if rid in started and rid not in finished:
                run.fail(rid, "upload did not finish", before_queue=True)
            elif rid not in started and rid not in finished:
                run.fail(rid, CANCELLED_BEFORE_UPLOAD if was_cancelled else (run.stopped or "not uploaded"), True)

    def _feed(self, run: JobRun) -> None:
        """The enqueuer: sends uploaded requests in batches of 10, within the window."""
        try:
            while True:
                batch = run.take_batch()
                if batch is None:
                    break
                self._send(run, batch)
        except Exception as exc:  # noqa: BLE001 - becomes error results, never a silent hang
            log.exception("enqueuing stopped")
            run.stop(f"could not enqueue: {_one_line(exc)}")
        finally:
            with run.cond:
                leftovers = list(run.pending)
                run.pending.clear()
                reason = run.stopped or CANCELLED_BEFORE_ENQUEUE
            for rid in leftovers:
                run.fail(rid, reason, before_queue=True)
            self._delete_inputs(run, leftovers)
            with run.cond:
                run.feeder_done = True
                run.cond.notify_all()
            self._write_manifest(run, final=True)

    def _send(self, run: _PackedRun, batch: list[str]) -> None:
        now = time.time()
        bodies: list[str] = []
        sendable: list[str] = []
        for rid in batch:
            key, offset, length = run.placed[rid]
            request = Request(
                request_id=rid,
                job_id=run.job.job_id,
                bucket=self.cfg.input_bucket,
                key=key,
                name=run.items[rid].name,
                reply_queue=self.reply_url,
                submitted=now,
                offset=offset,
                length=length,
            )
            try:
                bodies.append(request.to_json())
                sendable.append(rid)
            except MessageError as exc:
                run.sent([rid], f"could not enqueue: {exc}")
        if not sendable:
            return
        if run.journal is not None:
            run.journal.sending(sendable)
        try:
            self.sqs.send_batch(self.request_url(), bodies)
        except Exception as exc:  # noqa: BLE001 - BatchFailed, ClientError, connection errors
            log.warning("could not enqueue %d request(s): %s", len(sendable), _one_line(exc))
            run.sent(sendable, f"could not enqueue: {_one_line(exc)}")
            return
        if run.journal is not None:
            run.journal.sent(sendable)
        run.sent(sendable, None)
        self._write_manifest(run, every=MANIFEST_EVERY_SECONDS)

    def _delete_inputs(self, run: _PackedRun, rids: list[str]) -> None:
        """Best effort: packs that will never be read are removed from the input bucket; a pack is kept
        while any of its requests was sent (a worker may still read it)."""
        self._delete_packs(run.unsent_packs(rids))

    def _delete_packs(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self.s3.client.delete_objects(Bucket=self.cfg.input_bucket, Delete={"Objects": chunk, "Quiet": True})
            except Exception as exc:  # noqa: BLE001 - leftovers are harmless
                log.debug("could not delete unsent inputs: %s", exc)

    # --- manifest ------------------------------------------------------------------------------
    def _write_manifest(self, run: _PackedRun, final: bool = False, every: float = 0.0) -> None:
        """Writes the job's manifest; with ``every``, only when the last write is older than that."""
        with run.cond:
            now = time.monotonic()
            if every and now - run.manifest_written < every:
                return
            run.manifest_written = now
            errors = {r.request_id: r.error or "" for r in run.job.upload_errors}
            manifest = Manifest(
                job_id=run.job.job_id,
                requests={rid: item.name for rid, item in run.items.items()},
                errors=errors,
                sent=set(run.job.requests),
                skipped=list(run.job.skipped),
                client_id=self.client_id,
                complete=final,
                cancelled=run.job.cancelled,
            )
        try:
            self.s3.put_json(self.cfg.output_bucket, layout.manifest_key(run.job.job_id), manifest.to_dict())
        except Exception as exc:  # noqa: BLE001 - the manifest helps `imgrec results`; the job goes on
            log.warning("could not write the job manifest: %s", _one_line(exc))

    def read_manifest(self, job_id: str) -> Manifest | None:
        return read_manifest(self.cfg, job_id, self.s3)

    # --- replies -----------------------------------------------------------------------------
    def _start_receivers(self) -> None:
        with self._lock:
            if self._receivers:
                return
            for i in range(RECEIVER_THREADS):
                thread = threading.Thread(target=self._receive_loop, name=f"imgrec-replies-{i}", daemon=True)
                self._receivers.append(thread)
                thread.start()

    def _receive_loop(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                while not self._runs and not self._closing.is_set():
                    self._active.wait(1.0)
            if self._closing.is_set():
                return
            try:
                messages = self.sqs.receive(self.reply_url, wait=REPLY_WAIT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - keep receiving; collect() recovers from S3
                if self._closing.is_set():
                    return
                self._endpoint.failed("receiving replies failed", exc)
                self._closing.wait(1.0)
                continue
            self._endpoint.answered()
            if not messages:
                continue
            for message in messages:
                self._route(message.body)
            try:
                self.sqs.delete_batch(self.reply_url, [m.receipt for m in messages])
            except Exception as exc:  # noqa: BLE001 - a reply seen twice is de-duplicated
                log.warning("could not delete replies: %s", _one_line(exc))

    def _route(self, body: str) -> None:
        try:
            result = Result.from_json(body)
        except MessageError as exc:
            log.warning("dropped a malformed reply: %s", exc)
            return
        with self._lock:
            run = self._runs.get(result.job_id)
        if run is None:
            log.debug("reply for job %s, which is not running here: dropped", result.job_id)
        elif not run.deliver(result):
            log.debug("duplicate or unknown reply %s: dropped", result.request_id)

    def _recover(self, run: JobRun) -> int:
        """Results already in the output bucket but missed on the reply queue; returns how many."""
        job_id = run.job.job_id
        with self._lock:
            reader = self._readers.setdefault(job_id, ResultReader(self.s3, self.cfg.output_bucket, job_id))

        def unresolved(rid: str) -> bool:
            with run.cond:
                return rid in run.items and rid not in run.resolved

        try:
            found = reader.read_new(wanted=unresolved)
        except Exception as exc:  # noqa: BLE001 - try again at the next stall
            self._endpoint.failed("could not list results in S3", exc)
            return 0
        self._endpoint.answered()
        recovered = sum(1 for result in found if run.deliver(result))
        if recovered:
            log.info("job %s: recovered %d result(s) from S3", job_id, recovered)
        return recovered

    # --- collect -------------------------------------------------------------------------------
    def collect(
        self,
        job: Job,
        on_result: Callable[[Result], None] | None = None,
        timeout: float | None = None,  # seconds without progress; default cfg.result_timeout
    ) -> Iterator[Result]:
        """Yields one Result per request of the job, as they arrive on the reply queue; results
        missed on the queue are recovered from the output bucket; on timeout the rest become
        error results."""
        with self._lock:
            run = self._runs.get(job.job_id)
        if run is None:
            raise JobError(f"job {job.job_id} is not running in this client: use recollect()")
        timeout = self.cfg.result_timeout if timeout is None else timeout
        recover_every = max(0.2, min(RECOVER_AFTER_SECONDS, timeout / 3))
        total = len(run.items)
        yielded: list[Result] = []
        last_progress = last_recovery = time.monotonic()
        try:
            while len(yielded) < total:
                result = run.next_result(wait=min(0.25, recover_every))
                now = time.monotonic()
                if result is not None:
                    yielded.append(result)
                    last_progress = now
                    if on_result is not None:
                        on_result(result)
                    yield result
                idle = now - last_progress
                lost = min(idle, self._endpoint.silent_for()) >= ENDPOINT_LOST_SECONDS
                if idle >= timeout or lost:
                    if self._recover(run):
                        continue  # a last look in S3 found some: not timed out after all
                    reason = TIMED_OUT
                    if lost:
                        where = target.describe(self.cfg)
                        reason = (f"{where} {STOPPED_ANSWERING} {ENDPOINT_LOST_SECONDS:.0f} s "
                                  f"({self._endpoint.last_error}); is `imgrec up` still running there?")
                        log.error("job %s: %s", job.job_id, reason)
                    run.stop(reason)
                    for rid in run.unresolved():
                        run.fail(rid, reason, before_queue=rid not in run.enqueued)
                elif ((idle >= recover_every and now - last_recovery >= recover_every)
                      or (now - last_recovery >= min(recover_every, RESULTS_POLL_SECONDS) and run.awaiting())):
                    # Results missed on the reply queue, and those of requests an earlier client of a
                    # resumed job sent (their replies went to its queue): both are in S3.
                    last_recovery = now
                    self._recover(run)
        finally:
            if len(yielded) >= total:
                with self._lock:
                    self._runs.pop(job.job_id, None)
                    self._readers.pop(job.job_id, None)
        self._write_merged_results(job, yielded)

    def _write_merged_results(self, job: Job, results: list[Result]) -> None:
        """The finished job's results as one CSV in the output bucket, beside its manifest."""
        text = results_csv.to_csv_text(results_csv.to_rows(results, job.skipped))
        try:
            self.s3.put_bytes(self.cfg.output_bucket, layout.merged_results_key(job.job_id), text.encode("utf-8"),
                              "text/csv; charset=utf-8")
        except Exception as exc:  # noqa: BLE001 - the results are in S3 one batch per object all the same
            log.warning("could not write the job's merged results: %s", _one_line(exc))

    def recollect(self, job_id: str) -> list[Result]:
        """A job's results from the output bucket alone (`imgrec results JOB_ID`)."""
        return recollect(self.cfg, job_id, self.s3)

    # --- close ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops enqueuing and receiving and deletes the reply queue. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            runs = list(self._runs.values())
            self._closing.set()
            self._active.notify_all()
        for run in runs:
            run.stop(CLIENT_CLOSED)
        for thread in self._receivers + self._feeders:
            thread.join(timeout=REPLY_WAIT_SECONDS + 10)
        self._renewer.stop()  # first: a renewal must not create the queue again
        try:
            self.sqs.delete_queue(self.reply_url)
        except Exception as exc:  # noqa: BLE001 - an unreachable endpoint must not hide the real error
            log.warning("could not delete reply queue %s: %s", self.reply_queue, _one_line(exc))


class _PackedRun(JobRun):
    """A job's run whose inputs went up in packs: which pack and byte range holds each request's image,
    and batches that end at a pack's end where they can (a pack's requests go in one SendMessageBatch,
    so a cancel, checked between batches, leaves no pack half enqueued)."""

    def __init__(self, *args, journal: JobJournal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.journal = journal
        self.packs: dict[str, list[str]] = {}  # pack key -> its request ids, in byte order
        self.placed: dict[str, tuple[str, int, int]] = {}  # request id -> (pack key, offset, length)
        self.next_pack = 0
        self.adopted: set[str] = set()  # a resumed job's requests not uploaded again (done, queued, resent)
        self.awaited: set[str] = set()  # of those, the ones sent by an earlier client: answers come via S3
        self.manifest_written = 0.0  # time.monotonic() of the latest manifest write

    def new_pack_key(self) -> str:
        with self.cond:
            key = layout.pack_key(self.job.job_id, self.next_pack)
            self.next_pack += 1
            return key

    def add_pack(self, key: str, members: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        """Records a pack about to be uploaded: (request id, bytes) of each image, in order; returns
        (request id, offset, length) of each."""
        with self.cond:
            self.packs[key] = [rid for rid, _ in members]
            offset = 0
            for rid, length in members:
                self.placed[rid] = (key, offset, length)
                offset += length
            return [(rid, *self.placed[rid][1:]) for rid, _ in members]

    def unsent_packs(self, rids: list[str]) -> list[str]:
        """The packs holding these requests of which no request was sent (or is being sent). Packs of
        an earlier run of a resumed job are never among them: some of their requests were sent."""
        with self.cond:
            keys = {self.placed[rid][0] for rid in rids if rid in self.placed}
            return sorted(key for key in keys if key in self.packs
                          and not any(rid in self.enqueued or rid in self.job.requests for rid in self.packs[key]))

    def awaiting(self) -> bool:
        """Whether requests sent by an earlier client of this job are still unanswered (answered ones are
        dropped from ``awaited`` on the way: asked every couple of seconds, not per result)."""
        with self.cond:
            self.awaited = {rid for rid in self.awaited if rid not in self.resolved}
            return bool(self.awaited)

    def take_batch(self) -> list[str] | None:
        with self.cond:  # reentrant: the batch is cut before anyone else sees it
            batch = super().take_batch()
            if batch and self.pending and self.placed[self.pending[0]][0] == self.placed[batch[-1]][0]:
                last = self.placed[batch[-1]][0]
                tail = [rid for rid in batch if self.placed[rid][0] == last]
                if len(tail) < len(batch):  # the batch ends inside a pack: give that pack's part back
                    del batch[-len(tail):]
                    self.pending.extendleft(reversed(tail))
                    self.enqueued.difference_update(tail)
                    self.outstanding -= len(tail)
                    self.sending -= len(tail)
            return batch


class _InFlight:
    """Bytes of packs read and not yet uploaded: at most ``limit``, or one pack when it is larger."""

    def __init__(self, limit: int):
        self._limit, self._used = limit, 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._used == 0 or self._used + n <= self._limit)
            self._used += n

    def release(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()


def _input_bytes(rid: str, item: Item, previews: _Previews | None) -> bytes:
    """What goes into the pack for this item: its preview (``upload = preview``) or the file."""
    if previews is None:
        return item.path.read_bytes()
    path, _ = previews.take(rid, item)
    try:
        return Path(path).read_bytes()
    finally:
        previews.discard(rid)


class _Previews:
    """Preview files for a job's uploads, made ``2 x PREVIEW_THREADS`` ahead of the one asked for, in
    the order the uploads ask: ``take(rid)`` gives (file to upload, its size), the original's when a
    preview would not help (see ``shared.preview``); ``discard(rid)`` removes it once read into its pack."""

    def __init__(self, run: _PackedRun, cfg: Config, sides: tuple[int, int], folder: Path, pool: ThreadPoolExecutor):
        self._cfg, self._sides, self._folder, self._pool = cfg, sides, folder, pool
        self._todo = iter([(rid, item) for rid, item in run.items.items()
                           if item.size <= cfg.max_image_bytes and rid not in run.adopted])
        self._ahead: dict[str, Future] = {}

    def _make(self, rid: str, item: Item) -> tuple[str, int]:
        long_side, min_short_side = self._sides
        data = preview_jpeg(item.path, long_side, self._cfg.max_image_pixels, item.size, min_short_side)
        if data is None:
            return str(item.path), item.size
        path = self._folder / f"{rid}.jpg"
        path.write_bytes(data)
        return str(path), len(data)

    def take(self, rid: str, item: Item) -> tuple[str, int]:
        while len(self._ahead) <= 2 * PREVIEW_THREADS:
            following = next(self._todo, None)
            if following is None:
                break
            self._ahead[following[0]] = self._pool.submit(self._make, *following)
        future = self._ahead.pop(rid, None)
        try:
            return future.result() if future is not None else self._make(rid, item)
        except OSError as exc:  # no room for the preview file: send the original
            log.warning("could not write a preview of %s: %s", item.name, _one_line(exc))
            return str(item.path), item.size

    def discard(self, rid: str) -> None:
        (self._folder / f"{rid}.jpg").unlink(missing_ok=True)


# --- reading a job back from S3 alone (no reply queue needed) ------------------------------------------

def read_manifest(cfg: Config, job_id: str, s3: S3Service | None = None) -> Manifest | None:
    """The job's manifest, or None when there is none (or it cannot be read)."""
    s3 = s3 or S3Service(cfg)
    try:
        return Manifest.from_dict(s3.get_json(cfg.output_bucket, layout.manifest_key(job_id), denied_is_missing=True))
    except ObjectMissing:
        return None
    except (ManifestError, ValueError) as exc:
        log.warning("job %s: unreadable manifest: %s", job_id, exc)
        return None


class ResultReader:
    """A job's result objects in the output bucket, each read once, and the first result seen per
    request id (a redelivered request is answered in a second object). Not thread-safe: one reader
    per caller."""

    def __init__(self, s3: S3Service, bucket: str, job_id: str):
        self.s3, self.bucket, self.job_id = s3, bucket, job_id
        self.done_keys: set[str] = set()  # read (or not worth reading again)
        self.seen: set[str] = set()  # request ids returned so far
        self.listed = 0  # result objects found by the latest listing

    def read_new(self, wanted: Callable[[str], bool] = lambda rid: True) -> list[Result]:
        """Results not returned before, from the objects not read before, whose request id is
        ``wanted``. An object that could not be read is tried again at the next call; a one-result
        object of a request no longer wanted is not read at all. Raises when the listing fails."""
        todo: list[tuple[str, str, str]] = []
        listed = 0
        for key in self.s3.list_keys(self.bucket, layout.result_prefix(self.job_id)):
            what = layout.result_object(self.job_id, key)
            if what is None:
                if key not in self.done_keys:
                    log.warning("skipped s3://%s/%s: not a result object", self.bucket, key)
                    self.done_keys.add(key)
                continue
            listed += 1
            if key in self.done_keys:
                continue
            kind, name = what
            if kind == layout.RESULT_SINGLE and (name in self.seen or not wanted(name)):
                self.done_keys.add(key)
                continue
            todo.append((key, kind, name))
        self.listed = listed
        if not todo:
            return []
        found: list[Result] = []
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(todo))) as pool:
            for (key, _, _), results in zip(todo, pool.map(lambda t: self._read(*t), todo), strict=True):
                if results is None:
                    continue
                self.done_keys.add(key)
                for result in results:
                    if result.request_id not in self.seen and wanted(result.request_id):
                        self.seen.add(result.request_id)
                        found.append(result)
        return found

    def _read(self, key: str, kind: str, name: str) -> list[Result] | None:
        """The object's valid results ([] when it is not a result object), or None to try again."""
        try:
            body = self.s3.get_bytes(self.bucket, key, max_bytes=MAX_OBJECT_BYTES)
            results, problems = parse(kind, name, body, self.job_id)
        except (MessageError, ObjectMissing, ObjectTooLarge) as exc:
            log.warning("skipped result object %s: %s", key, exc)
            return []
        except Exception as exc:  # noqa: BLE001 - one unreadable object must not stop the rest
            log.warning("could not read result object %s: %s", key, _one_line(exc))
            return None
        for problem in problems[:3]:
            log.warning("left out a result in %s: %s", key, problem)
        return results


def fetch_results(s3: S3Service, bucket: str, job_id: str) -> list[Result]:
    """Every result of the job in the output bucket, one per request id (the first seen); unreadable,
    malformed or foreign ones are logged and left out."""
    return ResultReader(s3, bucket, job_id).read_new()


def count_results(s3: S3Service, bucket: str, job_id: str) -> int:
    """How many of the job's requests have a result in the output bucket (`imgrec status`)."""
    return len(fetch_results(s3, bucket, job_id))


def given_up(result: Result) -> bool:
    """A request the client stopped waiting for (timed out, or its endpoint went away): it may still be
    answered, so its job can be resumed or re-collected."""
    return bool(result.error) and (result.error == TIMED_OUT or STOPPED_ANSWERING in result.error)


def read_merged_results(cfg: Config, job_id: str, manifest: Manifest, s3: S3Service) -> list[Result] | None:
    """The finished job's results from its merged CSV, when it is there, readable, answers every request
    of the manifest and holds no request the client gave up waiting for (its result may have come
    since); None otherwise."""
    try:
        body = s3.get_bytes(cfg.output_bucket, layout.merged_results_key(job_id), max_bytes=MAX_MERGED_BYTES,
                            denied_is_missing=True)
        rows = [results_csv.row_from_dict(values) for values in results_csv.read_csv(io.StringIO(body.decode()))]
        results = [Result(request_id=row.request_id, job_id=job_id,
                          name=manifest.requests.get(row.request_id, row.image), label=row.label or None,
                          score=row.score, top5=tuple(zip(row.top5, row.top5_scores, strict=True)),
                          model=row.model or None, worker_id=row.worker or None, error=row.error or None,
                          timings={} if row.latency_s is None else {"total_s": row.latency_s})
                   for row in rows if row.request_id]  # rows without one are the skipped files
    except ObjectMissing:
        return None
    except Exception as exc:  # noqa: BLE001 - unreadable or malformed: the result objects tell the same
        log.warning("job %s: ignored its merged results: %s", job_id, _one_line(exc))
        return None
    if {r.request_id for r in results} != set(manifest.requests) or len(results) != len(manifest.requests) \
            or any(given_up(r) for r in results):
        return None
    return results


def recollect(cfg: Config, job_id: str, s3: S3Service | None = None, wait: float = 0.0,
              on_waiting: Callable[[int], None] | None = None) -> list[Result]:
    """A job's results from the output bucket alone, sorted by name: one per item of the manifest (an
    item with no result is an error row: why it failed before the queue, ``IN_PROGRESS`` or
    ``NOT_SENT``), or whatever results exist when there is none. A finished job's merged CSV is read
    when it is complete (one GET); otherwise the result objects are. With ``wait``, looks again every
    few seconds, for up to that many seconds, while requests are in progress (``on_waiting(n)`` each
    time)."""
    s3 = s3 or S3Service(cfg)
    manifest = read_manifest(cfg, job_id, s3)
    merged = read_merged_results(cfg, job_id, manifest, s3) if manifest is not None else None
    if merged is not None:
        return sorted(merged, key=lambda r: (results_csv.natural_key(r.name), r.request_id))
    reader = ResultReader(s3, cfg.output_bucket, job_id)
    wanted = (lambda rid: True) if manifest is None else manifest.requests.__contains__
    found = {result.request_id: result for result in reader.read_new(wanted=wanted)}
    if manifest is None and not reader.listed:
        raise JobError(f"no job {job_id!r} in s3://{cfg.output_bucket}: no manifest and no results")
    deadline = time.monotonic() + wait
    while manifest is not None:
        waiting = [rid for rid in manifest.requests if rid not in found and manifest.unanswered(rid) == IN_PROGRESS]
        left = deadline - time.monotonic()
        if not waiting or left <= 0:
            break
        if on_waiting is not None:
            on_waiting(len(waiting))
        time.sleep(min(RESULTS_POLL_SECONDS, left))
        manifest = read_manifest(cfg, job_id, s3) or manifest  # a live client updates what it sent
        found.update((result.request_id, result) for result in reader.read_new(wanted=manifest.requests.__contains__))
    if manifest is not None:
        found = {rid: (replace(found[rid], name=name) if found[rid].name != name else found[rid]) if rid in found
                 else Result(request_id=rid, job_id=job_id, name=name, error=manifest.unanswered(rid))
                 for rid, name in manifest.requests.items()}
    return sorted(found.values(), key=lambda r: (results_csv.natural_key(r.name), r.request_id))
