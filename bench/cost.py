"""Cost per million images: this design (warm batched workers, standard queues) beside the original
(a t2.micro running a new process per image, FIFO queues), from figures measured in one run.

Measured here:
- the worker's CPU time per image: one warm worker (``python -m cloud.worker``'s own entry, run through
  this file so that its requests are counted) classifies the workload repeated (300 images by default)
  through the embedded cloud (a moto server); its CPU seconds come from /proc/<pid>/stat, between the
  first upload and the last result, so the model load is left out (a warm worker pays it once);
- the S3 and SQS requests per image, by type, on the client (JobClient, in this process) and in the
  worker, counted on botocore's before-send event (each retry counts: AWS bills it). The worker's
  requests before its first receive are its start-up; after the last result only polling is left
  (empty long polls, status writes), reported as a cost per idle hour, not per image;
- the original design's CPU time per image: a new ``python -m cloud.cli predict FILE`` process per
  image (as bench/throughput.py's naive path), on a sample after one untimed run (which may fill the
  model cache), from getrusage(RUSAGE_CHILDREN). Its engine is torch by default, as the original app
  ran the PyTorch model; ``--original-engine auto`` runs throughput.py's exact command.

Priced (prices in shared/prices.py, dated; check current prices): compute as CPU seconds actually used times the
instance's price per vCPU-second, i.e. the instance is assumed kept busy (an autoscaled fleet running
at full load); an idle or half-used instance costs more per image. Burstable types (t2, t3) sustain
full CPU only on credits (t2.micro's baseline is 10 % of its vCPU, t3.medium's 20 % per vCPU; t3
"unlimited" bills $0.05 per vCPU-hour above it), so their figures are lower bounds. CPU seconds are
this machine's; another CPU (Graviton: c7g, t4g) takes a different time. The client's CPU runs on the
user's machine and is not priced.

Prints a table (per million images: compute, S3 PUT, S3 GET, SQS, total, for both designs), the
requests by type, what an idle worker costs, then one JSON line. Goal: ours <= 0.1 x the original.

    .venv/bin/python bench/cost.py [--repeat 3] [--instance t3.medium] [--original-sample 5]
                                   [--original-engine torch] [--idle-timeout 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import (  # noqa: E402 - after the path set-up
    WORKLOAD,
    RequestCounter,
    children_cpu_seconds,
    count_shared_aws_clients,
    own_cpu_seconds,
    process_cpu_seconds,
    workload_copies,
)
from shared.config import ENGINES  # noqa: E402
from shared.prices import (  # noqa: E402
    INSTANCES,
    PRICES_DATED,
    S3_GET_PER_REQUEST,
    S3_PUT_PER_REQUEST,
    SQS_CHUNK_BYTES,
    SQS_FIFO_PER_REQUEST,
    SQS_STANDARD_PER_REQUEST,
    vcpu_second_price,
)

# The original design, per image: the web tier's PUT of the input, the app instance's GET, and
# 6 FIFO SQS requests (send, receive, delete of the request; send, receive, delete of the response).
ORIGINAL_INSTANCE = "t2.micro"
ORIGINAL_REQUESTS = {"s3.PutObject": 1, "s3.GetObject": 1, "sqs.(6 FIFO actions)": 6}

GOAL_RATIO = 0.1
STATUS_REFRESH_HINT = "workers/<id>.json"  # shared.layout.WORKER_STATUS_PREFIX: the worker's status object
RESULTS_PER_OBJECT = 10  # the what-if below: one object per 10 results (a receive's worth), not per image

_S3_FREE = ("DeleteObject", "DeleteObjects", "AbortMultipartUpload")
_S3_PUT_TIER = ("Put", "Copy", "Post", "List", "Create", "Complete", "UploadPart")

WORKER_CMD = "_counted-worker"  # this file re-run as a worker whose requests are counted


# --- request names and prices --------------------------------------------------------------------------
def label(service: str, operation: str, url: str) -> str:
    """``s3.PutObject:result`` etc.: the operation, and for S3 what the object is (by its key prefix, as
    shared/layout.py lays keys out), so the table shows which writes cost what."""
    name = f"{service}.{operation}"
    if service != "s3":
        return name
    path = url.split("?", 1)[0]
    for marker, role in (("/manifest.json", "manifest"), ("/jobs/", "input"), ("/results/", "result"),
                         ("/workers/", "status"), ("/models/", "model")):
        if marker in path:
            return f"{name}:{role}"
    return name


def tier(name: str) -> str:
    """'s3_put', 's3_get', 'sqs' or 'free' (the price class a request name is billed in)."""
    service, _, operation = name.partition(".")
    operation = operation.split(":", 1)[0]
    if service == "sqs":
        return "sqs"
    if operation in _S3_FREE:
        return "free"
    return "s3_put" if operation.startswith(_S3_PUT_TIER) else "s3_get"


def breakdown(cpu_s: float, instance: str, per_image: dict[str, float], sqs_price: float) -> dict[str, float]:
    """USD per million images: compute, s3_put, s3_get, sqs, total."""
    by_tier = Counter()
    for name, n in per_image.items():
        by_tier[tier(name)] += n
    out = {
        "compute": cpu_s * vcpu_second_price(instance) * 1e6,
        "s3_put": by_tier["s3_put"] * S3_PUT_PER_REQUEST * 1e6,
        "s3_get": by_tier["s3_get"] * S3_GET_PER_REQUEST * 1e6,
        "sqs": by_tier["sqs"] * sqs_price * 1e6,
    }
    out["total"] = sum(out.values())
    return out


def sqs_chunks(sent: Sent) -> tuple[int, int]:
    """(billed SQS units, largest request body in bytes): each 64 KB of a request's body is one request.
    The body measured is the whole HTTP body (protocol included), so this errs high."""
    units = largest = 0
    for _t, name, size in sent:
        if name.startswith("sqs."):
            units += max(1, math.ceil(size / SQS_CHUNK_BYTES))
            largest = max(largest, size)
    return units, largest


# --- the worker, counted -------------------------------------------------------------------------------
def counted_worker(counts_path: str, worker_args: list[str]) -> None:
    """Runs in the worker process: ``imgrec worker`` with every shared.aws client counted; the counts
    go to ``counts_path`` when it stops. Ends like ``python -m cloud.worker`` (os._exit)."""
    counter = RequestCounter(label)
    count_shared_aws_clients(counter)  # before the worker builds any client
    from cloud.cli import main

    code = main(["worker", *worker_args])
    counter.save(counts_path)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class WorkerProcess:
    """One counted worker, started like cloud.worker.process.spawn_worker starts one (settings in the
    environment, status lines on stdout), its stderr in ``log_path``."""

    def __init__(self, cfg, tmp: Path, idle_timeout: float):
        from cloud.local.fleet import thread_env
        from cloud.worker.process import config_env

        self.counts_path = tmp / "worker-requests.json"
        self.log_path = tmp / "worker.log"
        env = {k: v for k, v in os.environ.items() if k != "IMGREC_CONFIG"}
        env.update(config_env(cfg))
        env.update(thread_env(1))  # as EmbeddedCloud(workers=1) runs its worker
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, str(Path(__file__).resolve()), WORKER_CMD, str(self.counts_path),
                   "--worker-id", "cost-1", "--status-stdout", "--idle-timeout", f"{idle_timeout:g}"]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file,
                                         env=env, text=True, bufsize=1)
        self.states: dict[str, float] = {}  # state -> time.time() it was first reported
        self._changed = threading.Condition()
        threading.Thread(target=self._read_status, name="cost-worker-status", daemon=True).start()

    def _read_status(self) -> None:
        from shared.worker_status import parse_status_line

        for line in self.proc.stdout:
            status = parse_status_line(line)
            if status is None:
                continue
            with self._changed:
                self.states.setdefault(status.state, status.ts)
                self._changed.notify_all()

    def wait_state(self, state: str, timeout: float) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: state in self.states or self.proc.poll() is not None, timeout):
                raise TimeoutError(f"the worker did not report {state!r} within {timeout:.0f} s (log: {self.log_path})")
            if state not in self.states:
                raise RuntimeError(f"the worker exited with code {self.proc.returncode} before {state!r}; "
                                   f"the end of its log:\n{self.log_tail()}")
            return self.states[state]

    def stop(self, timeout: float) -> int:
        """Waits for it to exit on its own (idle timeout), else SIGTERM, then SIGKILL."""
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timeout = 15
        return self.proc.wait()

    def model(self) -> str:
        """What the worker said it runs: '<classifier> on <device>'."""
        match = re.search(r"worker \S+: (.+?) on (\S+), batches", self.log_path.read_text(errors="replace"))
        return f"{match.group(1)} on {match.group(2)}" if match else "unknown"

    def log_tail(self, lines: int = 8) -> str:
        return "\n".join("    " + line for line in self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- the measurements -------------------------------------------------------------------------------------
def original_cpu(paths: list[Path], engine: str) -> list[float]:
    """CPU seconds of a new `imgrec predict FILE` process per image (the original app tier's way), one
    per path after an untimed first run (page cache, model cache: a long-running instance has both)."""
    per_image = []
    for i, path in enumerate([paths[0], *paths]):
        before = children_cpu_seconds()
        subprocess.run([sys.executable, "-m", "cloud.cli", "predict", str(path), "--engine", engine], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            per_image.append(children_cpu_seconds() - before)
    return per_image


def engine_of(pid: int) -> str:
    """Which inference library a live process has loaded: onnxruntime, torch, both or neither."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text(errors="replace")
    except OSError:
        return "unknown"
    found = [name for name, marker in (("onnxruntime", "onnxruntime"), ("torch", "libtorch")) if marker in maps]
    return "+".join(found) or "neither"


def pipeline(folder: Path, n_expected: int, tmp: Path, idle_timeout: float) -> dict:
    """One counted warm worker and a counted JobClient through the embedded cloud."""
    from cloud.local.embedded import EmbeddedCloud
    from shared.config import load_config
    from shared.job import JobClient
    from shared.s3 import S3Service
    from shared.scan import scan
    from shared.sqs import SQSService

    cfg = load_config(env={})
    with EmbeddedCloud(cfg, workers=0) as cloud:  # moto server, provisioned; the worker is ours
        worker = WorkerProcess(cloud.cfg, tmp, idle_timeout)
        try:
            t_ready = worker.wait_state("ready", 240)
            cpu_at_ready = process_cpu_seconds(worker.proc.pid)
            engine = engine_of(worker.proc.pid)
            counter = RequestCounter(label)
            s3, sqs = S3Service(cloud.cfg), SQSService(cloud.cfg)
            counter.attach(s3.client)  # the transfer manager's uploads go through this client too
            counter.attach(sqs.client)
            scanned = scan([folder])
            assert len(scanned.images) == n_expected, (len(scanned.images), n_expected)
            client = JobClient(cloud.cfg, s3=s3, sqs=sqs)
            try:
                cpu0, own0, t0 = process_cpu_seconds(worker.proc.pid), own_cpu_seconds(), time.time()
                job = client.submit(scanned.images)
                results = list(client.collect(job))
                cpu1, own1, t_done = process_cpu_seconds(worker.proc.pid), own_cpu_seconds(), time.time()
            finally:
                client.close()
            failed = [r for r in results if r.error]
            assert not failed, failed[:3]
            assert len(results) == n_expected and len({r.request_id for r in results}) == n_expected
            code = worker.stop(idle_timeout + cloud.cfg.wait_time + 30)
            if not worker.counts_path.is_file():
                raise RuntimeError(f"the worker exited with code {code} without writing its request counts; "
                                   f"the end of its log:\n{worker.log_tail()}")
        finally:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
    worker_counts = RequestCounter.load(worker.counts_path)
    return {
        "client": counter, "worker": worker_counts, "t_ready": t_ready, "t0": t0, "t_done": t_done,
        "t_idle_end": worker.states.get("draining", worker.states.get("stopped", time.time())),
        "worker_cpu_s": cpu1 - cpu0, "worker_boot_cpu_s": cpu_at_ready, "client_cpu_s": own1 - own0,
        "wall_s": t_done - t0, "model": f"{worker.model()}, {engine}", "wait_time": cloud.cfg.wait_time,
    }


Sent = list[tuple[float, str, int]]  # RequestCounter.sent: (time, name, body bytes)


def split_worker(sent: Sent, t_done: float, t_idle_end: float) -> tuple[Sent, Sent, Sent]:
    """(start-up and shut-down, job, idle) of the worker's requests: start-up is everything before its
    first receive, shut-down everything from the moment it decided to stop; between the last result and
    then, receives and status writes are idle polling, anything else (the last batch's delete) still
    belongs to the job."""
    first_receive = min((t for t, name, _ in sent if name == "sqs.ReceiveMessage"), default=float("inf"))
    startup, job, idle = [], [], []
    for request in sent:
        t, name, _size = request
        if t < first_receive or t >= t_idle_end:
            startup.append(request)
        elif t >= t_done and (name == "sqs.ReceiveMessage" or name.endswith(":status")):
            idle.append(request)
        else:
            job.append(request)
    return startup, job, idle


def by_name(sent: Sent) -> Counter:
    return Counter(name for _t, name, _size in sent)


# --- the report ---------------------------------------------------------------------------------------------
def money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.1 else f"${x:,.4f}"


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == WORKER_CMD:
        counted_worker(sys.argv[2], sys.argv[3:])  # does not return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="workload copies (default 3: 300 images)")
    parser.add_argument("--instance", default="t3.medium", choices=sorted(INSTANCES),
                        help="what our workers run on (default t3.medium, the README's example)")
    parser.add_argument("--original-sample", type=int, default=5, help="images run as one process each")
    parser.add_argument("--original-engine", default="torch", choices=ENGINES,
                        help="engine of the original's per-image process (default torch, what the original app "
                             "ran; auto: bench/throughput.py's naive command exactly)")
    parser.add_argument("--idle-timeout", type=float, default=30.0,
                        help="seconds the worker idles after the job before it exits (the idle figures)")
    args = parser.parse_args()
    if not WORKLOAD.is_dir():
        print(f"workload not found at {WORKLOAD}: nothing to measure", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = workload_copies(tmp / "images", args.repeat)
        n = len(paths)
        print(f"{n} images ({args.repeat} x workload) on {platform.machine()}, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        sample = original_cpu(paths[: args.original_sample], args.original_engine)
        original_cpu_s = sum(sample) / len(sample)
        print(f"original: {original_cpu_s * 1000:.0f} ms CPU per image (process per image, engine "
              f"{args.original_engine}, {len(sample)} images, {min(sample) * 1000:.0f}-{max(sample) * 1000:.0f} ms)",
              file=sys.stderr)
        run = pipeline(tmp / "images", n, tmp, args.idle_timeout)
    load_at_end = os.getloadavg()

    startup_sent, worker_sent, idle_sent = split_worker(run["worker"].sent, run["t_done"], run["t_idle_end"])
    client_counts, worker_job = by_name(run["client"].sent), by_name(worker_sent)
    startup, idle = by_name(startup_sent), by_name(idle_sent)
    job_counts = client_counts + worker_job
    per_image = {name: count / n for name, count in job_counts.items()}
    worker_cpu_s = run["worker_cpu_s"] / n
    sqs_units, largest_sqs = sqs_chunks(run["client"].sent + worker_sent)
    sqs_requests = sum(c for name, c in job_counts.items() if name.startswith("sqs."))
    sqs_price = SQS_STANDARD_PER_REQUEST * (sqs_units / sqs_requests if sqs_requests else 1)  # 64 KB chunks

    ours = breakdown(worker_cpu_s, args.instance, per_image, sqs_price)
    original = breakdown(original_cpu_s, ORIGINAL_INSTANCE, ORIGINAL_REQUESTS, SQS_FIFO_PER_REQUEST)
    ratio = ours["total"] / original["total"]

    # --- the tables
    print(f"\nPer million images (prices {PRICES_DATED}):")
    print(f"| term | ours: 1 warm worker on {args.instance}, standard SQS | original: {ORIGINAL_INSTANCE}, "
          "process per image, FIFO SQS |")
    print("|---|---|---|")
    labels = {"compute": "compute (vCPU-s used)", "s3_put": "S3 PUT/LIST", "s3_get": "S3 GET", "sqs": "SQS"}
    for key, text in labels.items():
        mark_o = " <- largest" if key == max(labels, key=lambda k: ours[k]) else ""
        mark_r = " <- largest" if key == max(labels, key=lambda k: original[k]) else ""
        print(f"| {text} | {money(ours[key])}{mark_o} | {money(original[key])}{mark_r} |")
    print(f"| **total** | **{money(ours['total'])}** | **{money(original['total'])}** |")
    print(f"\nours / original = {ratio:.3f} (goal <= {GOAL_RATIO}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})")
    print(f"CPU per image: worker {worker_cpu_s * 1000:.1f} ms ({run['model']}; its start-up "
          f"{run['worker_boot_cpu_s']:.1f} s CPU once), original {original_cpu_s * 1000:.0f} ms; "
          f"client {run['client_cpu_s'] / n * 1000:.1f} ms (user's machine, not priced). "
          f"Job wall time {run['wall_s']:.1f} s.")
    print("compute on other instance types (ours, per million): " + ", ".join(
        f"{name} {money(worker_cpu_s * vcpu_second_price(name) * 1e6)}" for name in sorted(INSTANCES)))

    print(f"\nRequests per image ({n} images; client = the JobClient's whole life, worker = from its first "
          "receive to the last result):")
    print("| request | client | worker | per image | $ per million images |\n|---|---|---|---|---|")
    prices = {"s3_put": S3_PUT_PER_REQUEST, "s3_get": S3_GET_PER_REQUEST, "sqs": sqs_price, "free": 0.0}
    for name, count in sorted(job_counts.items(), key=lambda kv: -kv[1] * prices[tier(kv[0])]):
        print(f"| {name} | {client_counts.get(name, 0)} | {worker_job.get(name, 0)} | {count / n:.3f} | "
              f"{money(count / n * prices[tier(name)] * 1e6)} |")
    empty_in_job = sum(1 for t in run["worker"].empty_receives if t < run["t_done"])
    print(f"worker receives that came back empty during the job: {empty_in_job}; largest SQS request body "
          f"{largest_sqs / 1024:.1f} KB (each under 64 KB is one billed request)")
    print("worker start-up and shut-down (once per worker, not per image): "
          + (", ".join(f"{k} {v}" for k, v in startup.most_common()) or "none"))

    # Idle: measured after the last result (a short window: polls in flight at the last result are
    # counted in the job, so the measured rate errs low), and expected for an idle hour from the number
    # of receiver threads seen and the status object's refresh period.
    from shared.worker_status import REFRESH_SECONDS

    idle_s = max(1e-9, run["t_idle_end"] - run["t_done"])
    receivers = len(run["worker"].threads.get("sqs.ReceiveMessage", ()))
    expected_per_hour = {"sqs.ReceiveMessage": receivers * 3600 / run["wait_time"],
                         "s3.PutObject:status": 3600 / REFRESH_SECONDS}
    idle_usd_h = sum(rate * prices[tier(name)] for name, rate in expected_per_hour.items())
    print(f"\nIdle worker: in {idle_s:.0f} s after the last result it sent "
          + (", ".join(f"{c} {name}" for name, c in sorted(idle.items())) or "nothing")
          + f". An idle hour costs {receivers} receiver thread(s) x {3600 / run['wait_time']:.0f} long polls "
          f"({run['wait_time']} s each) = {expected_per_hour['sqs.ReceiveMessage']:.0f} receives, plus "
          f"{expected_per_hour['s3.PutObject:status']:.0f} rewrites of its status object ({STATUS_REFRESH_HINT}, "
          f"every {REFRESH_SECONDS:g} s): {money(idle_usd_h)} per idle worker-hour in requests, beside the "
          f"instance's ${INSTANCES[args.instance][0]}/h until it is scaled in.")

    requests_total = ours["s3_put"] + ours["s3_get"] + ours["sqs"]
    what_if = {}
    if requests_total > ours["compute"]:
        result_puts = per_image.get("s3.PutObject:result", 0.0)
        input_puts = per_image.get("s3.PutObject:input", 0.0)
        saved_results = result_puts * (1 - 1 / RESULTS_PER_OBJECT) * S3_PUT_PER_REQUEST * 1e6
        input_gets = per_image.get("s3.GetObject:input", 0.0)
        saved_inputs = (input_puts * S3_PUT_PER_REQUEST + input_gets * S3_GET_PER_REQUEST) \
            * (1 - 1 / RESULTS_PER_OBJECT) * 1e6
        after_results = ours["total"] - saved_results
        after_both = after_results - saved_inputs
        what_if = {"results_per_object": RESULTS_PER_OBJECT,
                   "cost_per_million_results_batched": round(after_results, 4),
                   "ratio_results_batched": round(after_results / original["total"], 4),
                   "cost_per_million_results_and_inputs_batched": round(after_both, 4),
                   "ratio_results_and_inputs_batched": round(after_both / original["total"], 4)}
        print(f"\nRequests dominate ours ({money(requests_total)} of {money(ours['total'])} per million), S3 PUTs "
              f"most of all ({per_image.get('s3.PutObject:input', 0):.2f} input + {result_puts:.2f} result "
              f"PUTs per image at $5 per million). What would cut them (estimates from the counts):")
        if result_puts > 0.5:
            print(f"- the worker writing one results object per batch (>= {RESULTS_PER_OBJECT} results; the "
                  f"replies already carry each result, S3 stays the durable record) rather than one per image: "
                  f"{money(ours['total'])} -> {money(after_results)} per million, ratio "
                  f"{after_results / original['total']:.3f}")
        else:
            print(f"- results are already written one object per batch and job ({result_puts:.3f} PUTs per image)")
        if input_puts > 0.5:
            print(f"- and the client uploading {RESULTS_PER_OBJECT} images per object (one object per "
                  f"SendMessageBatch, one ranged GET per image in the worker): -> {money(after_both)} per "
                  f"million, ratio {after_both / original['total']:.3f}")
        else:
            print(f"- inputs are already uploaded in packs ({input_puts:.3f} PUTs per image)")

    print(f"load average at the end: {load_at_end[0]:.2f} {load_at_end[1]:.2f} {load_at_end[2]:.2f}")
    report = {
        "images": n,
        "cost_per_million_ours": round(ours["total"], 4),
        "cost_per_million_original": round(original["total"], 4),
        "ratio": round(ratio, 4),
        "goal_met": ratio <= GOAL_RATIO,
        "breakdown_ours": {k: round(v, 4) for k, v in ours.items()},
        "breakdown_original": {k: round(v, 4) for k, v in original.items()},
        "requests_per_image": {k: round(v, 4) for k, v in sorted(per_image.items())},
        "worker_startup_requests": dict(startup),
        "idle_measured": {"seconds": round(idle_s, 1), **dict(idle)},
        "idle_requests_per_hour": {k: round(v) for k, v in expected_per_hour.items()},
        "idle_request_usd_per_hour": round(idle_usd_h, 5),
        "worker_cpu_ms": round(worker_cpu_s * 1000, 2),
        "original_cpu_ms": round(original_cpu_s * 1000, 1),
        "client_cpu_ms": round(run["client_cpu_s"] / n * 1000, 2),
        "worker_model": run["model"],
        "instance_ours": args.instance,
        "instance_original": ORIGINAL_INSTANCE,
        "original_engine": args.original_engine,
        "prices_dated": PRICES_DATED,
        "what_if": what_if,
        "loadavg": [round(x, 2) for x in load_at_end],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
